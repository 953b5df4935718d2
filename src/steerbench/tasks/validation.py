"""Validation splits for strength selection (select_T; docs/selection.md).

A task's validation plan pairs a fit split with a validation split, as `eval_plan` pairs a
fit split with a test split. A task declares it with `val_plan` and, when the validation
split is not one `format` already writes, `validation_splits(split_dir, seed, n_val, ...)`
returning {split name: records} (TruthfulQA, toxicity). A task whose `format` writes a
`val` split (UltraFeedback) validates with its eval plan's fit splits on `val`.
The test splits and the fit data of the test-time steerers never change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from steerbench.io import write_jsonl
from steerbench.tasks import get_task


def validation_plan(task: str) -> list[tuple[str, str]]:
    """(fit split, validation split) pairs of `task`; a task without one raises saying how to add it."""
    t = get_task(task)
    plan = getattr(t, "val_plan", None)
    if plan:
        return [tuple(p) for p in plan]
    if "val" in t.splits:
        return [(fit, "val") for fit in dict.fromkeys(fit for fit, _ in t.eval_plan)]
    raise ValueError(
        f"task {task!r} has no validation split: select_T cannot choose its T; give the task a `val_plan` "
        f"and a `validation_splits` method (steerbench.tasks.validation), or drop it from the config"
    )


def derived_splits(task: str) -> list[str]:
    """The split files of the validation plan that `format` does not write."""
    own = set(get_task(task).splits)
    return [s for pair in validation_plan(task) for s in pair if s not in own]


def write_validation_splits(task: str, split_dir: str | os.PathLike, seed: int, n_val: int,
                            **options: Any) -> dict[str, int]:
    """Write `<split_dir>/<split>.jsonl` for each derived split; returns rows per split."""
    t = get_task(task)
    splits = t.validation_splits(split_dir, seed, n_val, **options)
    expected = set(derived_splits(task))
    if set(splits) != expected:
        raise ValueError(f"task {task!r}: validation_splits wrote {sorted(splits)}, its val_plan needs {sorted(expected)}")
    return {name: write_jsonl(Path(split_dir) / f"{name}.jsonl", rows) for name, rows in splits.items()}
