"""Synthetic score files in the exact results/scores layout, for the tables/plots tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from steerbench.io import write_jsonl
from steerbench.results import format_T
from steerbench.scoring import scorer_metrics  # scorer -> raw metrics it writes


def score_path(root: Path, scorer: str, model: str, task: str, layer: int, method: str,
               T: float, seed: int) -> Path:
    return (root / "results" / "scores" / scorer / model / task / f"L{layer}" / method
            / f"T{format_T(T)}" / f"seed{seed}.jsonl")


def write_scores(
    root: Path,
    scorer: str,
    model: str,
    task: str,
    layer: int,
    method: str,
    T: float,
    seed: int,
    values: Callable[[str, np.ndarray], np.ndarray] | dict[str, np.ndarray],
    n: int,
    failed: tuple[int, ...] = (),
) -> Path:
    """Write one score file with `n` items; items whose index is in `failed` are null."""
    metrics = scorer_metrics(scorer)
    cols = {m: np.asarray(values[m] if isinstance(values, dict) else values(m, np.arange(n)),
                          dtype=float) for m in metrics}
    rows = []
    for i in range(n):
        bad = i in failed
        row = {"id": f"q{i:03d}"}
        for m in metrics:
            row[m] = None if bad else float(cols[m][i])
        row["error"] = "scorer timeout" if bad else None
        rows.append(row)
    path = score_path(root, scorer, model, task, layer, method, T, seed)
    write_jsonl(path, rows)
    return path


def tabulate_scores(score_files, task: str, methods, out_csv, out_md, out_tex, n_boot: int = 2000,
                    seed: int = 0, reference: str = "NoSteer"):
    """The workflow's summarise and tabulate stages in one call (the summary lands next to
    `out_csv`); returns the summary as the table rule reads it."""
    from steerbench.stages.tables import summarise_task, tabulate

    summary_file = Path(out_csv).with_suffix(".summary.csv")
    summarise_task(score_files, task, summary_file, n_boot=n_boot, seed=seed, reference=reference)
    return tabulate(summary_file, task, methods, out_csv, out_md, out_tex, reference=reference)


def summarise_each_task(score_files, out_dir: Path, n_boot: int = 2000, seed: int = 0,
                        reference: str = "NoSteer") -> list[Path]:
    """Rule summarise for every task among `score_files` (…/<task>/L<layer>/<method>/T<T>/seed<s>.jsonl)."""
    from steerbench.stages.tables import summarise_task

    by_task: dict[str, list] = {}
    for f in score_files:
        by_task.setdefault(Path(f).parts[-5], []).append(f)
    out = []
    for task, files in sorted(by_task.items()):
        out.append(Path(out_dir) / f"{task}.csv")
        summarise_task(files, task, out[-1], n_boot=n_boot, seed=seed, reference=reference)
    return out
