"""Stage plot: all figures of a task into a folder that appears only when complete."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from steerbench.io import atomic_dir
from steerbench.metrics import DEFAULT_REFERENCE
from steerbench.plots import plot_task
from steerbench.results import collect
from steerbench.stages.tables import task_table_scores
from steerbench.tables import read_summary


def plot_task_dir(summary_file: str, score_paths: Sequence[str], task: str, methods: Sequence[str], out_dir: str,
                  *, reference: str = DEFAULT_REFERENCE) -> list[Path]:
    """The task's summary (its statistics) and score files (the distributions) -> its figures."""
    df = task_table_scores(collect(score_paths))
    with atomic_dir(out_dir) as tmp:
        files = plot_task(df, task, tmp, methods, reference, summary=read_summary(summary_file))
    return [Path(out_dir) / f.name for f in files]
