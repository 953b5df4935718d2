"""Stages tabulate and summary_table: score files -> the task tables and the cross-model summary."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import pandas as pd

from steerbench.results import collect
from steerbench.tables import cross_model_summary, summarise, write_summary_tables, write_task_tables


def tabulate(
    score_files: Iterable[str | os.PathLike],
    task: str,
    methods: Sequence[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    reference: str = "NoSteer",
) -> pd.DataFrame:
    """Score files of one task -> its CSV/Markdown/LaTeX tables; returns the summary.

    `methods` is the config's method ids: it orders the rows (after the paper's order)
    and lists the methods a complete table must have.
    """
    df = collect(score_files)
    wrong = sorted(set(df["task"]) - {task})
    if wrong:
        raise ValueError(f"tabulate {task!r}: score files of other tasks {wrong} were passed in")
    summary = summarise(df, reference=reference, n_boot=n_boot, seed=seed)
    write_task_tables(summary, task, methods, methods, out_csv, out_md, out_tex, reference)
    return summary


def tabulate_summary(
    score_files: Iterable[str | os.PathLike],
    methods: Sequence[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    reference: str = "NoSteer",
    ours: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score files of every task -> the cross-model summary tables; returns the summary."""
    summary = summarise(collect(score_files), reference=reference, n_boot=n_boot, seed=seed)
    cross = cross_model_summary(summary, methods, reference, ours)
    write_summary_tables(cross, methods, methods, out_csv, out_md, out_tex, reference)
    return cross
