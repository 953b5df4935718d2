"""Toxicity: fit on Jigsaw comments, generate continuations of challenging RealToxicityPrompts.

Train (Jigsaw unintended bias): a comment with toxicity <= 0.5 is non-toxic (label 1,
the positive class to steer towards), above 0.5 toxic (label 0). Each class is cut into
`n_bins` equal-width toxicity bins ([0, .1], (.1, .2], ... (.4, .5] and (.5, .6], ...
(.9, 1]) and `n_per_bin` comments are drawn from each, seeded, so both classes span their
whole toxicity range. Test: `n_test` prompts drawn, seeded, from the RTP prompts marked
`challenging`; generation continues the raw prompt text (no chat template).

Raw layout (`download` writes, `format` reads):
    <raw>/jigsaw/train.csv     columns id, comment_text, toxicity (0-1)
    <raw>/rtp/prompts.jsonl    RealToxicityPrompts records in the original schema
                               ({"challenging", "prompt": {"text", "toxicity", ...}, ...})

Source block (`tasks.toxicity.source`), one sub-block per dataset:
    jigsaw: {kaggle: jigsaw-unintended-bias-in-toxicity-classification}
            or {path: <all_data.csv (what the official code reads), train.csv, or the competition zip>}
    rtp:    {hub: allenai/real-toxicity-prompts} or {path: <RTP JSONL>}
A Jigsaw CSV needs `comment_text` and `toxicity`; the competition's train.csv calls the
toxicity column `target`, which is accepted too.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from steerbench.integrity import check_csv_structure
from steerbench.io import atomic_path, write_jsonl
from steerbench.tasks.base import PAPER_SAMPLING, Formatter, Task
from steerbench.tasks.sources import (
    config_key,
    kaggle_download,
    load_hub_split,
    progress,
    read_rows,
    read_zip_member,
    require_columns,
    require_file,
    source_kind,
)

# pandas is imported where it is used: every job that imports a task would pay ~0.5 s for it.
if TYPE_CHECKING:
    import pandas as pd

COMPETITION = "jigsaw-unintended-bias-in-toxicity-classification"
JIGSAW_FILE = "jigsaw/train.csv"
RTP_FILE = "rtp/prompts.jsonl"
THRESHOLD = 0.5  # toxicity <= 0.5 is non-toxic (the paper's split)
# The official preprocess_jigsaw.py reads all_data.csv (every labelled comment, train and test).
JIGSAW_MEMBER = "all_data.csv"
MANUAL_JIGSAW = (
    f"download {JIGSAW_MEMBER} from https://www.kaggle.com/competitions/{COMPETITION}/data by hand "
    f"(or the whole competition zip) and set tasks.toxicity.source.jigsaw to `path: <that file>` "
    f"(suggested place: resources/manual/{COMPETITION}.zip)"
)


def normalise_jigsaw(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """id, comment_text, toxicity (float in [0, 1]); bad scores raise naming the row."""
    import pandas as pd

    if "toxicity" not in df.columns and "target" in df.columns:
        df = df.rename(columns={"target": "toxicity"})  # the competition's train.csv
    require_columns(df.columns, ["comment_text", "toxicity"], where)
    if len(df) == 0:
        raise ValueError(f"{where}: no comments (empty split)")
    tox = pd.to_numeric(df["toxicity"], errors="coerce")
    bad = tox.isna() | (tox < 0) | (tox > 1)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{where}: {int(bad.sum())} row(s) have a toxicity that is not a number in [0, 1] "
            f"(first: data row {first + 1}, value {df['toxicity'].iloc[first]!r})"
        )
    ids = df["id"].astype(str) if "id" in df.columns else pd.Series([str(i) for i in range(len(df))])
    return pd.DataFrame({"id": ids.to_numpy(), "comment_text": df["comment_text"].astype(str).to_numpy(), "toxicity": tox.to_numpy()})


def read_jigsaw_source(path: Path, where: str) -> pd.DataFrame:
    import pandas as pd

    if path.suffix == ".zip":
        # The competition zip holds all_data.csv (`toxicity`; what the official code reads)
        # and train.csv (column `target`, a subset): all_data.csv first.
        try:
            data = read_zip_member(path, JIGSAW_MEMBER)
        except ValueError:
            data = read_zip_member(path, "train.csv")
        source: Any = io.BytesIO(data)
    else:
        # pandas merges rows across an unterminated quote without a word: parse strictly first.
        check_csv_structure(path, f"{where}: {path}")
        source = path
    try:
        df = pd.read_csv(source, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where}: the file is empty; it needs a header row and data rows") from None
    return normalise_jigsaw(df, where)


def check_rtp_rows(rows: list[dict], where: str) -> None:
    if not rows:
        raise ValueError(f"{where}: no prompts (empty split)")
    for i, row in enumerate(rows):
        missing = [k for k in ("prompt", "challenging") if k not in row]
        if not missing and not (isinstance(row["prompt"], dict) and "text" in row["prompt"]):
            missing = ["prompt.text"]
        if missing:
            raise ValueError(
                f"{where}: record {i + 1} lacks {missing}; expected the RealToxicityPrompts schema "
                f"({{'challenging': bool, 'prompt': {{'text': ..., 'toxicity': ...}}, ...}})"
            )


def toxicity_bin(t: float, n_bins: int) -> int:
    """0..n_bins-1 for the non-toxic class ([0, .1], (.1, .2], ...), n_bins.. for the toxic."""
    # Bins are closed on the right; round first so 0.3 * 10 lands in bin 2, not 3.
    k = math.ceil(round(t / (THRESHOLD / n_bins), 9)) - 1
    return min(max(k, 0), 2 * n_bins - 1)


def jigsaw_from_rtp(rtp_files: list[str | os.PathLike], out_csv: str | os.PathLike) -> int:
    """Write a Jigsaw-format CSV (id, comment_text, toxicity) from RealToxicityPrompts records.

    A stand-in for tests and CI where the Kaggle data cannot be had: every prompt and
    continuation with a Perspective toxicity score becomes one comment. Returns the rows.
    """
    import pandas as pd

    rows = []
    for f, path in enumerate(rtp_files):
        records = read_rows(require_file(path, "jigsaw_from_rtp"))
        check_rtp_rows(records, str(path))
        for i, rec in enumerate(records):
            for part in ("prompt", "continuation"):
                text = (rec.get(part) or {}).get("text")
                tox = (rec.get(part) or {}).get("toxicity")
                if text and tox is not None:
                    rows.append({"id": f"{f}-{i}{part[0]}", "comment_text": text, "toxicity": float(tox)})
    if not rows:
        raise ValueError(f"{list(map(str, rtp_files))}: no scored prompt or continuation texts")
    with atomic_path(out_csv) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return len(rows)


# The official preprocess_jigsaw.py's fixed seed (line 10), used by every per-bin draw.
OFFICIAL_JIGSAW_SEED = 20250415


def _official_even_sample(df: pd.DataFrame, n_per_bin: int, n_bins: int) -> pd.DataFrame:
    """preprocess_jigsaw.py:24-95: n_bins equal bins from the class's min to its max, each
    [lo, hi) but the last [lo, hi]; n_per_bin drawn by DataFrame.sample with the fixed seed,
    or the whole bin when it holds fewer; bins concatenated in order."""
    import pandas as pd

    edges = np.linspace(df["toxicity"].min(), df["toxicity"].max(), n_bins + 1)
    parts = []
    for i in range(n_bins):
        upper = df["toxicity"] <= edges[i + 1] if i == n_bins - 1 else df["toxicity"] < edges[i + 1]
        members = df[(df["toxicity"] >= edges[i]) & upper]
        if len(members) >= n_per_bin:
            members = members.sample(n=n_per_bin, random_state=OFFICIAL_JIGSAW_SEED)
        parts.append(members)
    return pd.concat(parts)


def official_jigsaw_sample(df: pd.DataFrame, n_per_bin: int, n_bins: int = 5) -> list[dict]:
    """The official Jigsaw fit data, in its order: comments de-duplicated on their text
    (first kept, preprocess_jigsaw.py:98-103), split at toxicity 0.5 (:167-168), each class
    sampled evenly over its own toxicity range (_official_even_sample), the non-toxic class
    first, then the toxic (format_dataset.py:4-5), rows repeating text and score dropped
    (:14-18). The order fixes which positive meets which negative in paired steerers (RepE)."""
    import pandas as pd

    df = df[~df["comment_text"].duplicated(keep="first")]
    toxic = _official_even_sample(df[df["toxicity"] > THRESHOLD], n_per_bin, n_bins)
    non_toxic = _official_even_sample(df[df["toxicity"] <= THRESHOLD], n_per_bin, n_bins)
    if len(toxic) != len(non_toxic):
        raise ValueError(
            f"Jigsaw official selection: {len(non_toxic)} non-toxic but {len(toxic)} toxic comments (a bin "
            f"holds fewer than n_per_bin={n_per_bin}); the official code requires equal classes: lower n_per_bin"
        )
    both = pd.concat([non_toxic, toxic])
    both = both[~(both["comment_text"] + both["toxicity"].astype(str)).duplicated()]
    return [
        {"id": f"jigsaw-{r.id}", "text": r.comment_text, "toxicity": float(r.toxicity), "label": int(r.toxicity <= THRESHOLD)}
        for r in both.itertuples(index=False)
    ]


def official_rtp_test(rows: list[dict], ppl: list[float | None], n_test: int = 500, n_per_bin: int = 1200,
                      n_bins: int = 5, max_ppl: float = 200.0) -> list[dict]:
    """The official RTP test prompts (data/toxicity/preprocess_rtp.py:275-333 and
    format_dataset.py:37-42): prompts with a toxicity score (:64) and prompt perplexity
    below `max_ppl` (:284-285; `ppl[i]` for `rows[i]`, None = unscorable, dropped), split
    at 0.5 (:290-291), each class sampled evenly over its own range, 1200 per bin
    (_official_even_sample, :295-305); each class shuffled by Python's `random` seeded once
    with 20250415 (toxic first, then non-toxic) and its last `n_test` rows are its test
    part (:24-32, 317-318); the test set is the toxic test part, rows repeating text and
    score dropped."""
    test = _official_rtp_toxic_shuffled(rows, ppl, n_test, n_per_bin, n_bins, max_ppl)
    return _official_rtp_records(test.iloc[len(test) - n_test:])


def _official_rtp_toxic_shuffled(rows: list[dict], ppl: list[float | None], n_test: int, n_per_bin: int,
                                 n_bins: int, max_ppl: float) -> pd.DataFrame:
    """The toxic class of the official RTP selection in its shuffled order (official_rtp_test):
    train part, then the val part, then the test part, `n_test` rows each of the last two."""
    import pandas as pd

    import random

    if len(ppl) != len(rows):
        raise ValueError(f"{len(ppl)} perplexities for {len(rows)} RTP records; recompute the prompt perplexities")
    keep = [i for i, r in enumerate(rows)
            if r["prompt"].get("toxicity") is not None and ppl[i] is not None and ppl[i] < max_ppl]
    df = pd.DataFrame({"index": keep, "text": [rows[i]["prompt"]["text"] for i in keep],
                       "toxicity": [float(rows[i]["prompt"]["toxicity"]) for i in keep]})
    toxic = _official_even_sample(df[df["toxicity"] > THRESHOLD], n_per_bin, n_bins)
    non_toxic = _official_even_sample(df[df["toxicity"] <= THRESHOLD], n_per_bin, n_bins)
    rng = random.Random(OFFICIAL_JIGSAW_SEED)
    parts = []
    for part in (toxic, non_toxic):  # the official order of the two shuffles
        if len(part) < 2 * n_test:
            raise ValueError(f"RTP official selection: a class has {len(part)} prompts, fewer than 2 * n_test={2 * n_test}")
        order = list(range(len(part)))
        rng.shuffle(order)
        parts.append(part.iloc[order])
    return parts[0]


def _official_rtp_records(part: pd.DataFrame) -> list[dict]:
    part = part[~(part["text"] + part["toxicity"].astype(str)).duplicated()]  # format_dataset.py:37-42
    return [{"id": f"rtp-{int(r.index):06d}", "prompt": r.text, "prompt_toxicity": float(r.toxicity)}
            for r in part.itertuples(index=False)]


def official_rtp_val(rows: list[dict], ppl: list[float | None], n_test: int = 500, n_per_bin: int = 1200,
                     n_bins: int = 5, max_ppl: float = 200.0) -> list[dict]:
    """The official RTP validation prompts (`val_1.jsonl`, preprocess_rtp.py:24-32, 317-318;
    format_dataset.py:37-42): the `n_test` toxic rows just before the test part of the same
    shuffle, rows repeating text and score dropped; never a test prompt."""
    toxic = _official_rtp_toxic_shuffled(rows, ppl, n_test, n_per_bin, n_bins, max_ppl)
    return _official_rtp_records(toxic.iloc[len(toxic) - 2 * n_test: len(toxic) - n_test])


class Toxicity(Task):
    name = "toxicity"
    splits = ["train", "test"]
    fit_splits = ["train"]
    eval_plan = [("train", "test")]
    kind = "toxicity"
    headline = ("toxicity_perspective", "toxicity_open")

    @property
    def generation(self) -> dict[str, Any]:
        # Official detox_generate.py:32-35: 50 new tokens, sampling, transformers' default
        # top_k=50 left on; its code cuts every response at "\nQ:" (HuggingFaceLM.generate).
        return {"max_new_tokens": 50, **PAPER_SAMPLING, "top_k": 50, "stop": ["\nQ:"]}

    # ------------------------------------------------------------------ download

    def fetch(self, source: dict, out_dir: Path) -> None:
        missing = [k for k in ("jigsaw", "rtp") if not isinstance(source, dict) or k not in source]
        if missing:
            raise ValueError(
                f"{config_key(self.name)}: needs the sub-block(s) {missing}: "
                f"jigsaw: {{kaggle: {COMPETITION}}} or {{path: ...}}, rtp: {{hub: allenai/real-toxicity-prompts}} or {{path: ...}}"
            )
        self.download_jigsaw(source["jigsaw"], out_dir)
        self.download_rtp(source["rtp"], out_dir)

    def download_jigsaw(self, block: dict, out_dir: Path) -> Path:
        where = config_key(self.name, "jigsaw")
        kind = source_kind(block, ["kaggle", "path"], where)
        if kind == "path":
            path = require_file(block["path"], f"{where}.path")
            df = read_jigsaw_source(path, f"{where}.path ({path})")
        else:
            competition = block["kaggle"] if isinstance(block["kaggle"], str) else COMPETITION
            staging = out_dir / "jigsaw" / ".kaggle"
            fetched = kaggle_download(competition, JIGSAW_MEMBER, staging, f"{where}.kaggle", MANUAL_JIGSAW)
            df = read_jigsaw_source(fetched, f"{competition}/{JIGSAW_MEMBER}")
            fetched.unlink()
            staging.rmdir()
        target = out_dir / JIGSAW_FILE
        with atomic_path(target) as tmp:
            df.to_csv(tmp, index=False)
        return target

    def download_rtp(self, block: dict, out_dir: Path) -> Path:
        where = config_key(self.name, "rtp")
        kind = source_kind(block, ["hub", "path"], where)
        if kind == "path":
            path = require_file(block["path"], f"{where}.path")
            rows = read_rows(path)
            check_rtp_rows(rows, f"{where}.path ({path})")
        else:
            ds = load_hub_split(block["hub"], block.get("split", "train"), f"{where}.hub", revision=block.get("revision"))
            rows = [dict(r) for r in progress(ds, block["hub"], total=len(ds))]
            check_rtp_rows(rows, f"{block['hub']}")
        target = out_dir / RTP_FILE
        write_jsonl(target, rows)
        return target

    # ------------------------------------------------------------------ format

    def format(
        self,
        raw_dir: str | os.PathLike,
        out_dir: str | os.PathLike,
        seed: int = 42,
        n_per_bin: int = 1000,
        n_test: int = 500,
        n_bins: int = 5,
        selection: str = "fixed",
        ppl_path: str | None = None,
        **params: Any,
    ) -> dict[str, int]:
        """selection "fixed": equal-width bins over [0, .5] and (.5, 1], numpy-seeded from
        `seed`, classes interleaved. "official": the Jigsaw fit data exactly as the official
        preprocess_jigsaw.py + format_dataset.py select and order it (official_jigsaw_sample),
        and, given `ppl_path` (the prompt perplexities, stages.prompt_ppl), the official RTP
        test prompts (official_rtp_test); without it the test prompts are drawn as "fixed"."""
        self._check_params(params)
        if selection not in ("fixed", "official"):
            raise ValueError(f"tasks.{self.name}.params.selection={selection!r}: choose 'fixed' or 'official'")
        for key, n in (("n_per_bin", n_per_bin), ("n_test", n_test), ("n_bins", n_bins)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"tasks.{self.name}.params.{key}={n!r}: must be a positive integer")
        raw_dir = Path(raw_dir)
        # One stream per split: the test prompts must not move when the fit sample's size
        # or the Jigsaw file changes (a rerun with a smaller n_per_bin scores the same prompts).
        if selection == "official":
            path = require_file(raw_dir / JIGSAW_FILE, f"{self.name} raw data (run download_{self.name})")
            train = official_jigsaw_sample(read_jigsaw_source(path, str(path)), n_per_bin, n_bins)
        else:
            train = self.sample_train(raw_dir, np.random.default_rng([seed, 0]), n_per_bin, n_bins)
        if selection == "official" and ppl_path is not None:
            path = require_file(raw_dir / RTP_FILE, f"{self.name} raw data (run download_{self.name})")
            rows = read_rows(path)
            check_rtp_rows(rows, str(path))
            ppl = [r["ppl"] for r in read_rows(require_file(ppl_path, f"tasks.{self.name}: prompt perplexities"))]
            test = official_rtp_test(rows, ppl, n_test)
        else:
            test = self.sample_test(raw_dir, np.random.default_rng([seed, 1]), n_test)
        return {
            "train": write_jsonl(self.split_path(out_dir, "train"), train),
            "test": write_jsonl(self.split_path(out_dir, "test"), test),
        }

    def sample_train(self, raw_dir: Path, rng: np.random.Generator, n_per_bin: int, n_bins: int) -> list[dict]:
        path = require_file(raw_dir / JIGSAW_FILE, f"{self.name} raw data (run download_{self.name})")
        df = read_jigsaw_source(path, str(path))
        df = df[df["comment_text"].str.strip() != ""].reset_index(drop=True)
        bins = np.array([toxicity_bin(t, n_bins) for t in df["toxicity"]], dtype=int)
        chosen: list[int] = []
        for b in range(2 * n_bins):
            members = np.flatnonzero(bins == b)
            if len(members) < n_per_bin:
                width = THRESHOLD / n_bins
                raise ValueError(
                    f"{path}: toxicity bin ({b * width:.2f}, {(b + 1) * width:.2f}] has {len(members)} "
                    f"comments, fewer than n_per_bin={n_per_bin}; lower tasks.{self.name}.params.n_per_bin "
                    f"or use the full Jigsaw data"
                )
            chosen += rng.choice(members, size=n_per_bin, replace=False).tolist()
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        return [
            {
                "id": f"jigsaw-{df['id'][i]}",
                "text": df["comment_text"][i],
                "toxicity": float(df["toxicity"][i]),
                "label": int(df["toxicity"][i] <= THRESHOLD),
            }
            for i in chosen
        ]

    def sample_test(self, raw_dir: Path, rng: np.random.Generator, n_test: int) -> list[dict]:
        path = require_file(raw_dir / RTP_FILE, f"{self.name} raw data (run download_{self.name})")
        rows = read_rows(path)
        check_rtp_rows(rows, str(path))
        pool = [i for i, r in enumerate(rows) if r["challenging"] is True and str(r["prompt"]["text"]).strip()]
        if len(pool) < n_test:
            raise ValueError(
                f"{path}: {len(pool)} challenging prompts, fewer than n_test={n_test}; "
                f"lower tasks.{self.name}.params.n_test or use the full RealToxicityPrompts"
            )
        picked = [pool[i] for i in rng.choice(len(pool), size=n_test, replace=False)]
        return [
            {"id": f"rtp-{i:06d}", "prompt": rows[i]["prompt"]["text"], "prompt_toxicity": rows[i]["prompt"].get("toxicity")}
            for i in picked
        ]

    # ------------------------------------------------------------------ validation

    # Strength selection (select_T, docs/selection.md): the Jigsaw steerer answers RTP
    # prompts held apart from the test prompts; the train and test files stay as they are.
    val_plan = [("train", "val")]

    def validation_splits(self, split_dir: str | os.PathLike, seed: int, n_val: int, raw_dir: str | os.PathLike,
                          selection: str = "fixed", ppl_path: str | None = None, n_test: int = 500,
                          **_: Any) -> dict[str, list[dict]]:
        """{"val": `n_val` RTP prompts, none of them a test prompt (by record or text): for the
        official selection (with prompt perplexities) the first of the official code's own
        validation prompts (official_rtp_val); else drawn seeded from the prompts the test set
        is drawn from (the challenging ones)."""
        from steerbench.io import read_jsonl

        path = require_file(Path(raw_dir) / RTP_FILE, f"{self.name} raw data (run download_{self.name})")
        rows = read_rows(path)
        test = read_jsonl(self.split_path(split_dir, "test"), unique=("id",))
        test_ids, test_texts = {r["id"] for r in test}, {r["prompt"] for r in test}
        if selection == "official" and ppl_path is not None:
            # The official code's own validation prompts (official_rtp_val), the first n_val of them.
            ppl = [r["ppl"] for r in read_rows(require_file(ppl_path, f"tasks.{self.name}: prompt perplexities"))]
            val = official_rtp_val(rows, ppl, n_test)  # as format calls official_rtp_test
            if not 1 <= n_val <= len(val) or {r["id"] for r in val} & test_ids:
                raise ValueError(f"select_T.n_val={n_val}: the official RTP validation part holds {len(val)} "
                                 f"prompts; choose n_val between 1 and {len(val)}")
            return {"val": val[:n_val]}
        like_test = [r.get("challenging") is True for r in rows]
        pool, seen = [], set(test_texts)
        for i, r in enumerate(rows):
            text = str(r["prompt"]["text"])
            if like_test[i] and text.strip() and f"rtp-{i:06d}" not in test_ids and text not in seen:
                seen.add(text)
                pool.append(i)
        if not 1 <= n_val <= len(pool):
            raise ValueError(
                f"select_T.n_val={n_val}: {path} has {len(pool)} prompts of the test's kind outside the test "
                f"set; choose n_val between 1 and {len(pool)} (or lower tasks.{self.name}.params.n_test)"
            )
        picked = sorted(np.random.default_rng([seed, 2]).choice(len(pool), size=n_val, replace=False).tolist())
        return {"val": [{"id": f"rtp-{pool[k]:06d}", "prompt": rows[pool[k]]["prompt"]["text"],
                         "prompt_toxicity": rows[pool[k]]["prompt"].get("toxicity")} for k in picked]}

    # ------------------------------------------------------------------ use

    def fit_texts(self, records: list[dict], fmt: Formatter) -> tuple[list[str], list[str]]:
        # Jigsaw comments are raw text: no prompt template.
        pos = [r["text"] for r in records if int(r["label"]) == 1]
        neg = [r["text"] for r in records if int(r["label"]) == 0]
        return pos, neg

    def prompts(self, records: list[dict], fmt: Formatter) -> list[dict]:
        # RTP prompts are continued as raw text: no prompt template.
        return [{"id": r["id"], "prompt": r["prompt"], "prompt_text": r["prompt"]} for r in records]


if __name__ == "__main__":
    # python -m steerbench.tasks.toxicity OUT.csv RTP.jsonl [RTP.jsonl ...]: a Jigsaw-format
    # CSV for offline runs (there is no Jigsaw copy without Kaggle).
    import sys

    if len(sys.argv) < 3:
        sys.exit("usage: python -m steerbench.tasks.toxicity OUT.csv RTP.jsonl [RTP.jsonl ...]")
    print(f"{jigsaw_from_rtp(sys.argv[2:], sys.argv[1])} comments written to {sys.argv[1]}")
