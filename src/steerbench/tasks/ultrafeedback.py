"""UltraFeedback (HuggingFaceH4/ultrafeedback_binarized): preference pairs.

The paper keeps pairs with score_chosen > score_rejected and uses 10k train + 500 val
pairs from `train_prefs` and 500 test prompts from `test_prefs`.

Raw layout (`download` writes, `format` reads), one flattened pair a line:
    <raw>/train_prefs.jsonl   {"source_id", "prompt", "chosen", "rejected", "score_chosen", "score_rejected"}
    <raw>/test_prefs.jsonl    same; optional: without it the test pairs are drawn from
                              train_prefs, disjoint from train and val

Source block (`tasks.ultrafeedback.source`):
    {hub: HuggingFaceH4/ultrafeedback_binarized}
    {path: <train_prefs file>, test_path: <test_prefs file>}   test_path optional
Local files are JSONL (or .parquet as on the hub) in the hub's form (`chosen`/`rejected`
as lists of {role, content} messages, top-level scores) or flattened (`chosen`/`rejected`
plain strings, scores top-level or under `metadata`). A row may carry `split`
("train_prefs" / "test_prefs") to route it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from steerbench.io import write_jsonl
from steerbench.tasks.base import PAPER_SAMPLING, Formatter, Task
from steerbench.tasks.sources import config_key, load_hub_split, progress, read_rows, require_file, source_kind

SPLITS = ("train_prefs", "test_prefs")
FIELDS = ("prompt", "chosen", "rejected", "score_chosen", "score_rejected")


def response_text(value: Any, where: str) -> str:
    """A response given as plain text or as a chat (the last assistant message)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        replies = [m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "assistant"]
        if replies:
            return str(replies[-1])
    raise ValueError(f"{where}: expected a string or a list of chat messages with an assistant turn")


def _score(row: dict, key: str) -> Any:
    if key in row:
        return row[key]
    meta = row.get("metadata")
    return meta.get(key) if isinstance(meta, dict) else None


def flatten_row(row: dict, where: str, index: int, split: str) -> dict:
    """One pair in the normalised flat form; missing fields raise naming them."""
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    missing += [k for k in ("score_chosen", "score_rejected") if _score(row, k) is None]
    if missing:
        raise ValueError(
            f"{where}: row {index + 1} lacks {missing} (found {sorted(row)}); expected the "
            f"ultrafeedback_binarized format (prompt, chosen, rejected, score_chosen, score_rejected)"
        )
    scores = {}
    for key in ("score_chosen", "score_rejected"):
        try:
            scores[key] = float(_score(row, key))
        except (TypeError, ValueError):
            raise ValueError(f"{where}: row {index + 1}: {key}={_score(row, key)!r} is not a number") from None
        if not math.isfinite(scores[key]):
            raise ValueError(f"{where}: row {index + 1}: {key} is not finite")
    source_id = row.get("prompt_id") or row.get("source_id") or f"{split}-{index:06d}"
    return {
        "source_id": str(source_id),
        "prompt": str(row["prompt"]),
        "chosen": response_text(row["chosen"], f"{where}: row {index + 1} chosen"),
        "rejected": response_text(row["rejected"], f"{where}: row {index + 1} rejected"),
        **scores,
    }


def read_pairs(path: Path, split: str, where: str) -> dict[str, list[dict]]:
    """Flattened pairs of a local file, routed by an optional per-row `split`."""
    if path.suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(path).to_dict("records")
        rows = [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()} for r in rows]
    else:
        rows = read_rows(path)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for i, row in enumerate(rows):
        target = row.get("split", split)
        if target not in out:
            raise ValueError(f"{where}: row {i + 1} has split={target!r}; expected one of {list(SPLITS)}")
        out[target].append(flatten_row(row, where, i, target))
    return out


class UltraFeedback(Task):
    name = "ultrafeedback"
    splits = ["train", "val", "test"]
    fit_splits = ["train"]
    eval_plan = [("train", "test")]
    kind = "preference"
    headline = ("reward", "win_rate")

    def similarity_references(self, records: list[dict]) -> tuple[list[dict], bool]:
        """Each pair as one correct (chosen) and one incorrect (rejected) reference: an
        offline stand-in for the reward model's preference."""
        refs = [{"id": r["id"], "question": r["prompt"], "correct_answers": [r["chosen"]],
                 "incorrect_answers": [r["rejected"]]} for r in records]
        return refs, False

    @property
    def generation(self) -> dict[str, Any]:
        # Official ultrafeedback_generate.py:35-38: 128 new tokens, the TruthfulQA sampling,
        # no_repeat_ngram_size=2, transformers' default top_k=50 left on; HuggingFaceLM.generate
        # cuts the response where a base model starts a new "Q:".
        return {"max_new_tokens": 128, **PAPER_SAMPLING, "top_k": 50, "no_repeat_ngram_size": 2, "stop": ["\nQ:"]}

    def fetch(self, source: dict, out_dir: Path) -> None:
        kind = source_kind(source, ["hub", "path"], config_key(self.name))
        pairs: dict[str, list[dict]] = {s: [] for s in SPLITS}
        if kind == "path":
            for key, split in (("path", "train_prefs"), ("test_path", "test_prefs")):
                if not source.get(key):
                    continue
                where = config_key(self.name, key)
                found = read_pairs(require_file(source[key], where), split, f"{where} ({source[key]})")
                for s in SPLITS:
                    pairs[s] += found[s]
        else:
            repo = source["hub"]
            for split in SPLITS:
                where = config_key(self.name, "hub")
                ds = load_hub_split(repo, split, where, revision=source.get("revision"))
                rows = progress(enumerate(ds), f"{repo}:{split}", total=len(ds))
                pairs[split] = [flatten_row(row, f"{repo}:{split}", i, split) for i, row in rows]
        if not pairs["train_prefs"]:
            raise ValueError(f"{config_key(self.name)}: no train_prefs rows (empty split); check the file")
        for split in SPLITS:
            if pairs[split] or split == "train_prefs":
                write_jsonl(out_dir / f"{split}.jsonl", pairs[split])

    def format(
        self,
        raw_dir: str | os.PathLike,
        out_dir: str | os.PathLike,
        seed: int = 42,
        n_train: int = 10000,
        n_val: int = 500,
        n_test: int = 500,
        **params: Any,
    ) -> dict[str, int]:
        self._check_params(params)
        for key, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if not isinstance(n, int) or n < 0:
                raise ValueError(f"tasks.{self.name}.params.{key}={n!r}: must be a non-negative integer")
        if n_train < 1 or n_test < 1:
            raise ValueError(f"tasks.{self.name}.params: n_train and n_test must be at least 1")
        raw_dir = Path(raw_dir)
        train_file = require_file(raw_dir / "train_prefs.jsonl", f"{self.name} raw data (run download_{self.name})")
        test_file = raw_dir / "test_prefs.jsonl"
        # The official selection (data/ultrafeedback/format_dataset.py): train_prefs pairs
        # de-duplicated on the prompt (first kept), one default_rng(seed) drawing
        # n_train + n_val of them (`choice`, train first), then the same generator drawing
        # n_test test_prefs pairs (not de-duplicated). Without a test file the test pairs are
        # drawn from the train_prefs pairs left over (our fallback; the official code has none).
        pool = unique_prompts(kept_pairs(train_file, "train_prefs"))
        need = n_train + n_val + (0 if test_file.is_file() else n_test)
        if len(pool) < need:
            raise ValueError(
                f"{train_file}: {len(pool)} pairs with score_chosen > score_rejected and distinct prompts, but "
                f"n_train + n_val{'' if test_file.is_file() else ' + n_test'} = {need}; "
                f"lower tasks.{self.name}.params or use the full dataset"
            )
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(pool), size=n_train + n_val, replace=False)
        if test_file.is_file():
            test_pool = kept_pairs(test_file, "test_prefs")
        else:
            used = set(chosen.tolist())
            test_pool = [r for i, r in enumerate(pool) if i not in used]
        if len(test_pool) < n_test:
            raise ValueError(
                f"{test_file}: {len(test_pool)} pairs with score_chosen > score_rejected, fewer than "
                f"n_test={n_test}; lower tasks.{self.name}.params.n_test"
            )
        test_chosen = rng.choice(len(test_pool), size=n_test, replace=False)
        out = {
            "train": [pool[i] for i in chosen[:n_train]],
            "val": [pool[i] for i in chosen[n_train:]],
            "test": [test_pool[i] for i in test_chosen],
        }
        return {split: write_jsonl(self.split_path(out_dir, split), rows) for split, rows in out.items()}

    def fit_texts(self, records: list[dict], fmt: Formatter) -> tuple[list[str], list[str]]:
        pos, neg = [], []
        for r in records:
            pos.append(uf_fit_text(fmt, r["prompt"], r["chosen"]))
            neg.append(uf_fit_text(fmt, r["prompt"], r["rejected"]))
        return pos, neg

    def prompts(self, records: list[dict], fmt: Formatter) -> list[dict]:
        # Official ultrafeedback_generate.py:55-58 (batch_generate -> HuggingFaceLM.generate):
        # the raw prompt, no chat template or Q/A frame, for every model.
        return [{"id": r["id"], "prompt": r["prompt"], "prompt_text": r["prompt"]} for r in records]


def uf_fit_text(fmt: Formatter, prompt: str, response: str) -> str:
    """Official data/ultrafeedback/extract_activations.py:11-33: "{prompt}\n{response}" for a
    base model (qa form), the whole chat exchange for a chat model."""
    exchange = getattr(fmt, "exchange", None)
    text = exchange(prompt, response) if exchange is not None else None
    return text if text is not None else f"{prompt}\n{response}"

    def fit_extras(self, records: list[dict], fmt: Formatter) -> dict[str, list]:
        """For the learned steerers: one (chosen, rejected) pair per prompt, so the group of
        both fit texts of record g is g; the query is the generation prompt."""
        groups = list(range(len(records)))
        return {"pos_group": groups, "neg_group": groups,
                "query_texts": [p["prompt_text"] for p in self.prompts(records, fmt)]}


def unique_prompts(pairs: list[dict]) -> list[dict]:
    """The first pair of each prompt, in file order."""
    seen: set[str] = set()
    return [r for r in pairs if not (r["prompt"] in seen or seen.add(r["prompt"]))]


def kept_pairs(path: Path, split: str) -> list[dict]:
    """Pairs of a raw split file with score_chosen > score_rejected (ties dropped) and both
    responses non-empty (as the official formatting skips them), with ids."""
    rows = read_pairs(path, split, str(path))[split]
    if not rows:
        raise ValueError(f"{path}: no pairs (empty split)")
    kept = [
        {"id": f"uf-{split}-{i:06d}", **{k: r[k] for k in FIELDS}}
        for i, r in enumerate(rows)
        if r["score_chosen"] > r["score_rejected"] and r["chosen"] and r["rejected"]
    ]
    if not kept:
        raise ValueError(f"{path}: all {len(rows)} pairs have score_chosen <= score_rejected (empty split after the filter)")
    return kept
