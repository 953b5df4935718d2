"""Refusal: fit refusal steering on harmful vs benign requests; measure jailbreak safety
(defence success rate), over-refusal (XSTest) and utility (GSM8K, MATH, AlpacaEval).

Fit split `fit`: harmful requests (AdvBench-style) plus a seeded sample of jailbreak-wrapped
requests are the positive class (steer towards refusal), benign requests the negative, and
optional borderline requests (look harmful, are fine) the extra set `borderline` that
Dynamic AlphaSteer trains its gate on at target 0.5 (AlphaSteer adds them to its benign
null-space data). This mirrors AlphaSteer's training data (harmful_train_1000 + 1000 of
jailbreak_train vs benign_train, COCONot borderline sets).

Eval splits, each its own column group in the tables (`group` field):
    direct:       advbench, jailbreakbench                  metric: DSR (refusal rate)
    jailbreak:    aim, autodan, gcg, jailbroken, pair, renellm, cipher   metric: DSR
    over_refusal: xstest (its 250 safe prompts)             metric: compliance
    utility:      gsm8k, math (final answer), alpaca_eval (reward win rate vs NoSteer)
Every prompt goes through the model's chat template with the generation prompt (the
formatter the workflow passes); decoding is greedy.

Source block (`tasks.refusal.source`): one sub-block per dataset name above (and `harmful`,
`jailbreak_train`, `benign`, optional `borderline`), each one of
    {hub: <HF dataset id>, config?, split?}   e.g. walledai/AdvBench, JailbreakBench/JBB-Behaviors
                                              (config behaviors, split harmful), walledai/XSTest,
                                              openai/gsm8k (config main, split test),
                                              HuggingFaceH4/MATH-500, tatsu-lab/alpaca_eval
    {url: <JSON file>}                        e.g. the AlphaSteer repository's data files (the
                                              attack sets exist only there)
    {path: <local .json/.jsonl/.csv>}
and optionally `column:` (the prompt column) and `answer_column:`. Without `column`, the
first present of the dataset's known prompt columns is used (query, prompt, goal, Goal,
instruction, problem, question). XSTest rows with a `label` column keep label == "safe";
GCG rows with `prompt` and `adv_suffix` become prompt + " " + adv_suffix (AlphaSteer's
`query` for GCG is Llama-3.1's already-templated text, unusable for another model). The
attack sets were optimised against Llama-3.1-8B-Instruct; on other models they are
transfer attacks.

Raw layout: `<raw>/<dataset>.jsonl`, rows {"prompt", "answer"?}.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from steerbench.io import write_jsonl
from steerbench.tasks.base import Formatter, Task
from steerbench.tasks.sources import config_key, load_hub_split, read_csv, read_rows, require_file, source_kind

FIT_SETS = ("harmful", "jailbreak_train", "benign")
OPTIONAL_FIT_SETS = ("borderline",)
GROUPS: dict[str, tuple[str, ...]] = {
    "direct": ("advbench", "jailbreakbench"),
    "jailbreak": ("aim", "autodan", "gcg", "jailbroken", "pair", "renellm", "cipher"),
    "over_refusal": ("xstest",),
    "utility": ("gsm8k", "math", "alpaca_eval"),
}
EVAL_SETS = tuple(s for sets in GROUPS.values() for s in sets)
GROUP_OF = {s: g for g, sets in GROUPS.items() for s in sets}
ANSWER_SETS = {"gsm8k", "math"}  # sets whose rows carry a gold answer
# Which eval sets each scorer reads (Refusal.scored_rows); a scorer not named here reads
# every set (e.g. `quality`, or a plugin's).
SCORED_SETS: dict[str, tuple[str, ...]] = {
    "refusal": (*GROUPS["direct"], *GROUPS["jailbreak"], *GROUPS["over_refusal"]),
    "refusal_guard": (*GROUPS["direct"], *GROUPS["jailbreak"]),
    "math_accuracy": tuple(sorted(ANSWER_SETS)),
    # AlpacaEval: reward-model win rate against the reference (no GPT-4 judge offline).
    "reward": ("alpaca_eval",),
}
PROMPT_COLUMNS = ("query", "prompt", "goal", "Goal", "instruction", "problem", "question")
ANSWER_COLUMNS = ("answer",)
# Our wording of the instruction AlphaSteer's generation script wraps GSM8K / MATH problems
# in: ask for the final answer in \boxed{} (what scoring.math_accuracy reads first).
MATH_TEMPLATE = "Solve the following problem. Put your final answer within \\boxed{{}}.\n\n{problem}\n\nRemember: final answer within \\boxed{{}}."
# AlphaSteer's configs (config/llama3.1/<set>.yaml at 20d65b6): 128 new tokens on the safety
# sets, and more where answers are long.
SAFETY_MAX_NEW_TOKENS = 128
LONG_MAX_NEW_TOKENS = {"alpaca_eval": 512, "gsm8k": 2048, "math": 4096}


def _read_any(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        return read_csv(path, []).to_dict("records")
    return read_rows(path)


def normalise_rows(name: str, rows: list[dict], block: dict, where: str) -> list[dict]:
    """Rows {"prompt", "answer"?} of one dataset, or a clear error naming the fix."""
    if not rows:
        raise ValueError(f"{where}: no rows (empty dataset); give a file with {name} prompts")
    present = set().union(*(r.keys() for r in rows))
    if name == "xstest" and "label" in present:
        rows = [r for r in rows if str(r.get("label")).strip().lower() == "safe"]
    column = block.get("column")
    if column is None and name == "gcg" and {"prompt", "adv_suffix"} <= present:
        column = "_gcg"
        rows = [{**r, "_gcg": f"{r['prompt']} {r['adv_suffix']}".strip()} for r in rows]
    if column is None:
        column = next((c for c in PROMPT_COLUMNS if c in present), None)
    if column is None or not all(column in r for r in rows):
        want = column or f"one of {list(PROMPT_COLUMNS)}"
        raise ValueError(f"{where}: missing prompt column {want}; found {sorted(present)}. Set `column:` in the "
                         f"source block to the column holding the prompt")
    answer_col = None
    if name in ANSWER_SETS:
        answer_col = block.get("answer_column") or next((c for c in ANSWER_COLUMNS if c in present), None)
        if answer_col is None or not all(answer_col in r for r in rows):
            raise ValueError(f"{where}: missing answer column {answer_col or list(ANSWER_COLUMNS)}; found "
                             f"{sorted(present)}. Set `answer_column:` in the source block")
    out = []
    for i, r in enumerate(rows):
        prompt = r[column]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{where}: row {i + 1} has an empty or non-text prompt in column {column!r}")
        row = {"prompt": prompt}
        if answer_col is not None:
            row["answer"] = str(r[answer_col])
        out.append(row)
    if not out:
        raise ValueError(f"{where}: no rows left (XSTest needs rows with label 'safe')")
    return out


class Refusal(Task):
    name = "refusal"
    splits = ["fit", *EVAL_SETS]
    fit_splits = ["fit"]
    eval_plan = [("fit", s) for s in EVAL_SETS]
    groups = GROUPS
    kind = "refusal"
    # The AlphaSteer papers' summary numbers: mean DSR over the attack sets, then utility.
    headline = ("avg_safety", "avg_utility")

    def scored_rows(self, scorer: str, rows: list[dict]) -> list[dict]:
        for r in rows:
            if r.get("split") not in GROUP_OF:
                raise ValueError(f"{scorer}: generation row {r.get('id')!r} has split {r.get('split')!r}, not a "
                                 f"refusal eval set; rerun generate for the refusal task")
        sets = SCORED_SETS.get(scorer)
        return rows if sets is None else [r for r in rows if r["split"] in sets]

    # The tables' layout (steerbench.tables_refusal): per-item refusal / correctness rows
    # become one column per eval set, plus Avg Safety and Avg Utility.
    def table_scores(self, df):
        from steerbench.tables_refusal import expand_scores

        return expand_scores(df)

    def table_aggregates(self, summary, df, reference: str, n_boot: int, seed: int):
        from steerbench.tables_refusal import add_averages

        return add_averages(summary, df, reference=reference, n_boot=n_boot, seed=seed)

    @property
    def generation(self) -> dict[str, Any]:
        # AlphaSteer decodes greedily, 128 new tokens on the safety sets.
        return {"max_new_tokens": SAFETY_MAX_NEW_TOKENS, "do_sample": False, "repetition_penalty": 1.0}

    def generation_for(self, split: str) -> dict[str, Any]:
        """Generation settings of one eval split: AlpacaEval, GSM8K and MATH get longer answers."""
        gen = self.generation
        gen["max_new_tokens"] = LONG_MAX_NEW_TOKENS.get(split, SAFETY_MAX_NEW_TOKENS)
        return gen

    # ------------------------------------------------------------------ download

    def fetch(self, source: dict, out_dir: Path) -> None:
        self.check_source(source)
        # Read and check every dataset before writing any (a bad block leaves nothing behind).
        data = {name: self.read_source(name, block) for name, block in source.items()}
        for name, rows in data.items():
            write_jsonl(out_dir / f"{name}.jsonl", rows)

    def check_source(self, source: dict) -> None:
        """Every dataset named, none unknown, each block one kind (hub/url/path): checked
        at config time (steerbench.config_checks), again before a download."""
        where = config_key(self.name)
        if not isinstance(source, dict):
            raise ValueError(f"{where}: expected a mapping of dataset name -> source block, got {source!r}")
        missing = [k for k in (*FIT_SETS, *EVAL_SETS) if k not in source]
        if missing:
            raise ValueError(f"{where}: needs a source block for {missing} ({{hub: ...}}, {{url: ...}} or "
                             f"{{path: <local file>}} each)")
        unknown = sorted(set(source) - {*FIT_SETS, *OPTIONAL_FIT_SETS, *EVAL_SETS})
        if unknown:
            raise ValueError(f"{where}: unknown dataset(s) {unknown}; known: {[*FIT_SETS, *OPTIONAL_FIT_SETS, *EVAL_SETS]}")
        for name, block in source.items():
            if not isinstance(block, dict):
                raise ValueError(f"{config_key(self.name, name)}: expected {{hub: ...}}, {{url: ...}} or {{path: ...}}, "
                                 f"got {block!r}")
            source_kind(block, ["hub", "url", "path"], config_key(self.name, name))

    def read_source(self, name: str, block: dict) -> list[dict]:
        where = config_key(self.name, name)
        kind = source_kind(block, ["hub", "url", "path"], where)
        if kind == "path":
            path = require_file(block["path"], f"{where}.path")
            rows = _read_any(path)
        elif kind == "url":
            rows = self._read_url(block["url"], where)
        else:
            ds = load_hub_split(block["hub"], block.get("split", "train"), f"{where}.hub", config=block.get("config"),
                                revision=block.get("revision"))
            rows = [dict(r) for r in ds]
        return normalise_rows(name, rows, block, f"{where} ({block.get('path') or block.get('url') or block.get('hub')})")

    @staticmethod
    def _read_url(url: str, where: str) -> list[dict]:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a configured data URL
                data = response.read()
        except OSError as e:
            raise ConnectionError(f"{where}.url: could not fetch {url} ({e}); download it elsewhere and set "
                                  f"`path: <local file>` instead") from None
        try:
            rows = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{where}.url: {url} is not a JSON list of objects ({e})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{where}.url: {url} is not a JSON list of objects")
        return rows

    # ------------------------------------------------------------------ format

    def format(
        self,
        raw_dir: str | os.PathLike,
        out_dir: str | os.PathLike,
        seed: int = 42,
        n_harmful: int = 1000,
        n_jailbreak: int = 1000,
        n_benign: int = 2000,
        n_borderline: int = 300,
        n_eval: int | None = None,
        **params: Any,
    ) -> dict[str, int]:
        """Seeded samples: the fit split (n_harmful + n_jailbreak harmful, n_benign benign,
        up to n_borderline borderline) and up to n_eval prompts per eval set (None: all)."""
        self._check_params(params)
        for key, n in (("n_harmful", n_harmful), ("n_jailbreak", n_jailbreak), ("n_benign", n_benign),
                       ("n_borderline", n_borderline), ("n_eval", n_eval)):
            if n is None and key == "n_eval":
                continue
            if isinstance(n, bool) or not isinstance(n, int) or n < (0 if key in ("n_jailbreak", "n_borderline") else 1):
                raise ValueError(f"tasks.{self.name}.params.{key}={n!r}: must be a positive integer")
        raw_dir = Path(raw_dir)

        def load(name: str, required: bool = True) -> list[dict] | None:
            path = raw_dir / f"{name}.jsonl"
            if not path.is_file():
                if not required:
                    return None
                raise FileNotFoundError(f"{path}: no such file; run download_{self.name} first")
            return read_rows(path)

        def sample(rows: list[dict], n: int | None, stream: int, what: str, exact: bool) -> list[int]:
            if n is None or (not exact and n >= len(rows)):
                return list(range(len(rows)))
            if n > len(rows):
                raise ValueError(f"{raw_dir / what}.jsonl: {len(rows)} rows, fewer than the {n} asked for; lower "
                                 f"tasks.{self.name}.params.n_{what.split('_')[0]}")
            return sorted(np.random.default_rng([seed, stream]).choice(len(rows), size=n, replace=False).tolist())

        fit: list[dict] = []
        plan = [("harmful", n_harmful, "harmful", True), ("jailbreak_train", n_jailbreak, "harmful", False),
                ("benign", n_benign, "benign", True), ("borderline", n_borderline, "borderline", False)]
        for stream, (name, n, label, exact) in enumerate(plan):
            rows = load(name, required=name != "borderline")
            if rows is None or n == 0:
                continue
            for i in sample(rows, n, stream, name, exact):
                fit.append({"id": f"{name}-{i:05d}", "prompt": rows[i]["prompt"], "label": label, "source": name})
        counts = {"fit": write_jsonl(self.split_path(out_dir, "fit"), fit)}
        for k, name in enumerate(EVAL_SETS):
            rows = load(name)
            records = [{"id": f"{name}-{i:04d}", "prompt": rows[i]["prompt"], "set": name, "group": GROUP_OF[name],
                        **({"answer": rows[i]["answer"]} if "answer" in rows[i] else {})}
                       for i in sample(rows, n_eval, 100 + k, name, exact=False)]
            counts[name] = write_jsonl(self.split_path(out_dir, name), records)
        return counts

    # ------------------------------------------------------------------ use

    def fit_texts(self, records: list[dict], fmt: Formatter) -> tuple[list[str], list[str]]:
        """(harmful, benign) chat prompts with the generation prompt: AlphaSteer's activations
        are the last prompt token's, before any answer."""
        self._check_fit_records(records)
        pos = [fmt(r["prompt"]) for r in records if r["label"] == "harmful"]
        neg = [fmt(r["prompt"]) for r in records if r["label"] == "benign"]
        if not pos or not neg:
            raise ValueError(f"{self.name} fit split has {len(pos)} harmful and {len(neg)} benign prompts; it needs both")
        return pos, neg

    def fit_extra_texts(self, records: list[dict], fmt: Formatter) -> dict[str, list[str]]:
        """Named extra fit sets: {"borderline": [...]} when the fit split has borderline prompts."""
        self._check_fit_records(records)
        borderline = [fmt(r["prompt"]) for r in records if r["label"] == "borderline"]
        return {"borderline": borderline} if borderline else {}

    def _check_fit_records(self, records: list[dict]) -> None:
        for i, r in enumerate(records):
            missing = [k for k in ("prompt", "label") if k not in r]
            if missing:
                raise ValueError(f"{self.name} fit record {i} (id {r.get('id')!r}) lacks {missing}; re-run format_{self.name}")
            if r["label"] not in ("harmful", "benign", "borderline"):
                raise ValueError(f"{self.name} fit record {i}: label {r['label']!r} is not harmful/benign/borderline")

    def prompts(self, records: list[dict], fmt: Formatter) -> list[dict]:
        out = []
        for i, r in enumerate(records):
            if "prompt" not in r or "set" not in r:
                raise ValueError(f"{self.name} eval record {i} (id {r.get('id')!r}) lacks prompt/set; re-run format_{self.name}")
            text = MATH_TEMPLATE.format(problem=r["prompt"]) if r["set"] in ANSWER_SETS else r["prompt"]
            out.append({"id": r["id"], "prompt": r["prompt"], "prompt_text": fmt(text)})
        return out
