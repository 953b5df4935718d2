"""The Task interface: what the workflow needs to know about one benchmark task.

A task turns a source (hub id, Kaggle competition or local file) into raw files
(`download`), the raw files into seeded, normalised split files (`format`), and split
records into steering fit texts and generation prompts.
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from steerbench.io import atomic_dir

# Prompt formatting lives in steerbench.lm.prompts; imported here so `from
# steerbench.tasks.base import fit_text, Formatter` keeps working.
from steerbench.lm.prompts import Formatter, fit_text  # noqa: E402,F401


class Task(ABC):
    name: str = ""
    splits: list[str] = []  # every split file `format` writes
    fit_splits: list[str] = []  # splits a steerer is fitted on
    eval_plan: list[tuple[str, str]] = []  # (fit split, eval split)
    # What a scorer's `tasks` may name besides the task itself (several tasks share a kind).
    kind: str | None = None
    # Table metrics that may head the summary, best first: the first one present is used.
    headline: tuple[str, ...] = ()

    @property
    @abstractmethod
    def generation(self) -> dict[str, Any]:
        """Generation defaults for `steerbench.lm.generate` (a fresh dict each call)."""

    def download(self, source: dict, out_dir: str | os.PathLike) -> Path:
        """Fetch the raw data named by `source` into `out_dir` (fixed layout per task).

        The files are staged in a temporary sibling folder that replaces `out_dir` only
        when every file is complete, so a failed download leaves no half-filled folder.
        """
        out_dir = Path(out_dir)
        with atomic_dir(out_dir) as staging:
            self.fetch(source, staging)
        return out_dir

    @abstractmethod
    def fetch(self, source: dict, out_dir: Path) -> None:
        """Write the raw files named by `source` into the (empty) folder `out_dir`."""

    @abstractmethod
    def format(self, raw_dir: str | os.PathLike, out_dir: str | os.PathLike, seed: int, **params: Any) -> dict[str, int]:
        """Write `<out_dir>/<split>.jsonl` for every split; returns rows per split."""

    @abstractmethod
    def fit_texts(self, records: list[dict], fmt: Formatter) -> tuple[list[str], list[str]]:
        """(positive texts, negative texts) whose activations a steerer is fitted on."""

    @abstractmethod
    def prompts(self, records: list[dict], fmt: Formatter) -> list[dict]:
        """[{"id", "prompt" (raw), "prompt_text" (model input)}] for generation."""

    def scored_rows(self, scorer: str, rows: list[dict]) -> list[dict]:
        """The generation rows `scorer` reads: all of them, unless a task gives its eval sets
        to different scorers (refusal: DSR sets to `refusal`, AlpacaEval to `reward`)."""
        return rows

    def similarity_references(self, records: list[dict]) -> tuple[list[dict], bool]:
        """(records with correct_answers / incorrect_answers, whether to add "I have no
        comment." as a correct answer) for the similarity scorer."""
        raise ValueError(f"task {self.name!r} gives no reference answers: the similarity scorer cannot score it")

    def split_path(self, out_dir: str | os.PathLike, split: str) -> Path:
        return Path(out_dir) / f"{split}.jsonl"

    def _check_params(self, params: dict) -> None:
        """`params` are the keywords `format` did not take: any of them is a config typo."""
        if params:
            valid = [
                p.name
                for p in inspect.signature(self.format).parameters.values()
                if p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in ("raw_dir", "out_dir", "seed")
            ]
            raise ValueError(
                f"unknown parameter(s) {sorted(params)} for task {self.name!r}; "
                f"valid: {valid} (tasks.{self.name}.params in the config)"
            )

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


# Shared sampling defaults of the paper's generation scripts (all three tasks).
PAPER_SAMPLING: dict[str, Any] = {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1}
