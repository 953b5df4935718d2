"""Stage plot: all figures of a task into a folder that appears only when complete."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from steerbench.io import atomic_dir
from steerbench.plots import plot_scores
from steerbench.tasks import get_task


def plot_task_dir(score_paths: Sequence[str], task: str, methods: Sequence[str], out_dir: str,
                  *, n_boot: int = 2000, seed: int = 0, reference: str = "NoSteer") -> list[Path]:
    with atomic_dir(out_dir) as tmp:
        if hasattr(get_task(task), "table_scores"):  # a task with its own table metrics (refusal)
            from steerbench.plots import plot_task
            from steerbench.results import collect
            from steerbench.stages.tables import task_table_aggregates, task_table_scores
            from steerbench.tables import summarise

            df = task_table_scores(collect(score_paths))
            summary = task_table_aggregates(summarise(df, reference=reference, n_boot=n_boot, seed=seed), df,
                                            reference, n_boot, seed)
            files = plot_task(df, task, tmp, methods, reference, summary=summary, n_boot=n_boot, seed=seed)
        else:
            files = plot_scores(score_paths, task, tmp, methods, reference=reference, n_boot=n_boot, seed=seed)
    return [Path(out_dir) / f.name for f in files]
