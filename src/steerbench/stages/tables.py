"""Stages summarise, tabulate and summary_table: score files -> one long summary per task
(the statistics, computed once) -> the task tables and the cross-model summary."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import pandas as pd

from steerbench.metrics import DEFAULT_REFERENCE
from steerbench.results import collect
from steerbench.tables import (
    cross_model_summary,
    read_summary,
    summarise,
    write_summary,
    write_summary_tables,
    write_task_tables,
)


def summarise_task(
    score_files: Iterable[str | os.PathLike],
    task: str,
    out: str | os.PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    reference: str = DEFAULT_REFERENCE,
) -> pd.DataFrame:
    """Score files of one task -> its long summary (means, bootstrap CIs, paired tests,
    and the task's own cross-column rows), written to `out`; returns it."""
    summary = task_summary(score_files, task, n_boot, seed, reference)
    write_summary(summary, out)
    return summary


def task_summary(score_files: Iterable[str | os.PathLike], task: str, n_boot: int, seed: int,
                 reference: str) -> pd.DataFrame:
    """The long summary of one task's score files, with the task's own table metrics."""
    df = task_table_scores(collect(score_files))
    wrong = sorted(set(df["task"]) - {task})
    if wrong:
        raise ValueError(f"summarise {task!r}: score files of other tasks {wrong} were passed in")
    return task_table_aggregates(summarise(df, reference=reference, n_boot=n_boot, seed=seed), df, reference,
                                 n_boot, seed)


def tabulate(
    summary_file: str | os.PathLike,
    task: str,
    methods: Sequence[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    reference: str = DEFAULT_REFERENCE,
) -> pd.DataFrame:
    """One task's summary -> its CSV/Markdown/LaTeX tables; returns the summary.

    `methods` is the config's method ids: it orders the rows (after the paper's order)
    and lists the methods a complete table must have.
    """
    summary = read_summary(summary_file)
    write_task_tables(summary, task, methods, methods, out_csv, out_md, out_tex, reference)
    return summary


def tabulate_summary(
    summary_files: Iterable[str | os.PathLike],
    methods: Sequence[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    reference: str = DEFAULT_REFERENCE,
    ours: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every task's summary -> the cross-model summary tables; returns the cross-model frame."""
    summary = pd.concat([read_summary(f) for f in summary_files], ignore_index=True)
    cross = cross_model_summary(summary, methods, reference, ours)
    write_summary_tables(cross, methods, methods, out_csv, out_md, out_tex, reference)
    return cross


def task_table_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Collected scores with each task's own per-item table metrics (a task may define
    `table_scores`, e.g. refusal's one column per eval set); other tasks unchanged."""
    from steerbench.tasks import get_task

    for task in sorted(set(df["task"])):
        t = get_task(task)
        if hasattr(t, "table_scores"):
            df = t.table_scores(df)
    return df


def task_table_aggregates(summary: pd.DataFrame, df: pd.DataFrame, reference: str, n_boot: int,
                          seed: int) -> pd.DataFrame:
    """`summary` plus the cross-column rows a task defines (`table_aggregates`, e.g.
    refusal's Avg Safety / Avg Utility)."""
    from steerbench.tasks import get_task

    for task in sorted(set(df["task"])):
        t = get_task(task)
        if hasattr(t, "table_aggregates"):
            summary = t.table_aggregates(summary, df, reference, n_boot, seed)
    return summary
