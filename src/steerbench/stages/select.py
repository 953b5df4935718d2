"""Stages of strength selection (select_T; docs/selection.md): validation splits, the choice
of T on validation scores, and the tables, summary and plots at the chosen T."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from steerbench.io import atomic_dir, atomic_path
from steerbench.metrics import DEFAULT_REFERENCE, headline_metric
from steerbench.results import collect
from steerbench.strength.select import _baseline, choose_T
from steerbench.stages.tables import task_summary
from steerbench.tables import cross_model_summary, read_summary
from steerbench.tables_select import (
    SELECTION_COLUMNS,
    SELECTION_KEYS,
    at_chosen_T,
    write_selected_summary_tables,
    write_selected_task_tables,
)


def _rule_value(summary: pd.DataFrame, key: tuple, T: float, rule: str, metric: str, reference: str) -> float:
    """What the rule looks at for run `key` at T: the metric's mean (best) or its rise over
    the unsteered baseline (budget)."""
    if math.isnan(T):
        return math.nan
    rows = summary[(summary["metric"] == metric) & (summary["T"] == T)]
    for k, v in zip(SELECTION_KEYS, key):
        rows = rows[rows[k] == v]
    if rows.empty:
        return math.nan
    value = float(rows["mean"].iloc[0])
    if rule == "budget":
        base = _baseline(summary, key, metric, reference)
        return math.nan if base is None else value - base
    return value


def choose(val_summary: pd.DataFrame, test_summary: pd.DataFrame, task: str, select: dict,
           metric: str | None = None, reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """The chosen T per (model, task, layer, method) from the validation summary, with, for
    comparison only, the T the same rule would pick on the test scores (test_T) and the
    rule's value on test at both. The test scores never influence `T`."""
    rule = select["rule"]
    if rule == "best":
        metric = metric or headline_metric(task, set(val_summary["metric"]))
        if metric is None:
            raise ValueError(f"select_T: task {task!r} has no headline metric on validation; set select_T.metric")
    kwargs = dict(budget=select.get("budget"), metric=metric, cost_metric=select.get("cost_metric", "ppl"),
                  reference=reference)
    chosen = choose_T(val_summary[val_summary["task"] == task], rule, **kwargs)
    if chosen.empty:
        raise ValueError(f"select_T: no method besides the reference {reference!r} has validation scores on {task!r}")
    on_test = choose_T(test_summary[test_summary["task"] == task], rule, **kwargs)
    test_T = {tuple(r[k] for k in SELECTION_KEYS): float(r["T"]) for _, r in on_test.iterrows()}
    rows = []
    for _, r in chosen.iterrows():
        key = tuple(r[k] for k in SELECTION_KEYS)
        t_T = test_T.get(key, math.nan)
        rows.append({**{k: r[k] for k in SELECTION_COLUMNS if k in r}, "test_T": t_T,
                     "test_value_at_T": _rule_value(test_summary, key, float(r["T"]), rule, r["metric"], reference),
                     "test_value_at_test_T": _rule_value(test_summary, key, t_T, rule, r["metric"], reference)})
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def select_T(val_files: Iterable[str | os.PathLike], test_summary_file: str | os.PathLike, task: str,
             out_csv: str | os.PathLike, select: dict, metric: str | None = None, reference: str = DEFAULT_REFERENCE,
             n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Validation score files and the test summary (rule summarise) of one task -> the
    selection side file. Validation is summarised as the test split is (the task's own
    table metrics included), so a metric means the same on both."""
    val = task_summary(val_files, task, n_boot, seed, reference)
    out = choose(val, read_summary(test_summary_file), task, select, metric, reference)
    with atomic_path(out_csv) as tmp:
        out.to_csv(tmp, index=False, float_format="%.10g")
    return out


def read_selection(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no selection files given; the select_T rule writes results/<run>/tables/<task>.select_T.csv")
    out = pd.concat(frames, ignore_index=True)
    missing = set(SELECTION_COLUMNS) - set(out.columns)
    if missing:
        raise ValueError(f"{list(map(str, paths))}: not a selection file (lacks {sorted(missing)}); rerun select_T")
    return out.astype({"layer": int, "T": float, "method": str, "model": str, "task": str})


def tabulate_selected(summary_file: str | os.PathLike, selection_file: str | os.PathLike, task: str,
                      methods: Sequence[str], out_csv, out_md, out_tex, reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """One task's test summary (rule summarise) + its selection -> the task tables at the chosen T."""
    summary = read_summary(summary_file)
    return write_selected_task_tables(summary, read_selection([selection_file]), task, methods, methods,
                                      out_csv, out_md, out_tex, reference)


def summary_selected(summary_files: Iterable[str | os.PathLike], selection_files: Sequence[str | os.PathLike],
                     methods: Sequence[str], out_csv, out_md, out_tex, reference: str = DEFAULT_REFERENCE,
                     ours: Sequence[str] | None = None) -> pd.DataFrame:
    """Every task's test summary + the selections -> the cross-model summary at the chosen T."""
    summary = pd.concat([read_summary(f) for f in summary_files], ignore_index=True)
    selection = read_selection(selection_files)
    n_T = summary.groupby(SELECTION_KEYS)["T"].nunique()
    cross = cross_model_summary(at_chosen_T(summary, selection, reference), methods, reference, ours)
    # n_T: the T values the method ran, so the chosen one is printed (@T=...).
    cross["n_T"] = [int(n_T.get((r.model, r.task, r.layer, r.method), 1)) for r in cross.itertuples(index=False)]
    write_selected_summary_tables(cross, selection, methods, methods, out_csv, out_md, out_tex, reference)
    return cross


def plot_selected(test_files: Sequence[str], val_files: Sequence[str], selection_file: str, task: str,
                  methods: Sequence[str], out_dir: str, *, n_boot: int = 2000, seed: int = 0,
                  reference: str = DEFAULT_REFERENCE) -> list[Path]:
    """Every figure of the task (steerbench.plots), its "<headline>_vs_T" figures showing
    validation and test, the chosen T marked."""
    from steerbench.plots_select import plot_val_test_task

    with atomic_dir(out_dir) as tmp:
        files = plot_val_test_task(collect(test_files), collect(val_files), read_selection([selection_file]),
                                   task, tmp, methods, reference, n_boot=n_boot, seed=seed)
    return [Path(out_dir) / f.name for f in files]
