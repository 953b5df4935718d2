"""A toy task, registered the documented way (a plugin module calling register_task):
questions with a polite and a rude answer (a local JSONL file), steered towards polite."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from steerbench.io import read_jsonl, write_jsonl
from steerbench.lm import fit_text
from steerbench.tasks import Task, register_task


@register_task
class Politeness(Task):
    name = "politeness"
    splits = ["train", "test"]
    fit_splits = ["train"]
    eval_plan = [("train", "test")]
    kind = "politeness"
    headline = ("n_words",)

    @property
    def generation(self) -> dict[str, Any]:
        return {"max_new_tokens": 8, "do_sample": False}

    def fetch(self, source: dict, out_dir: Path) -> None:
        shutil.copy(source["path"], out_dir / "pairs.jsonl")

    def format(self, raw_dir, out_dir, seed: int, n_test: int = 4, **params: Any) -> dict[str, int]:
        self._check_params(params)
        rows = read_jsonl(Path(raw_dir) / "pairs.jsonl")
        order = np.random.default_rng(seed).permutation(len(rows))
        rows = [rows[i] for i in order]
        parts = {"test": rows[:n_test], "train": rows[n_test:]}
        for split, part in parts.items():
            write_jsonl(self.split_path(out_dir, split), part)
        return {split: len(part) for split, part in parts.items()}

    def fit_texts(self, records, fmt):
        return ([fit_text(fmt, r["question"], r["polite"]) for r in records],
                [fit_text(fmt, r["question"], r["rude"]) for r in records])

    def prompts(self, records, fmt):
        return [{"id": r["id"], "prompt": r["question"], "prompt_text": fmt(r["question"])} for r in records]
