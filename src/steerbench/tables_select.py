"""Tables at the strength chosen on validation (select_T; docs/selection.md).

`selection` is the side file the select_T stage writes (`results/<run>/tables/<task>.select_T.csv`):
one row per (model, task, layer, method) with the chosen `T`, the `rule` and its `metric`.
The tables keep, for each method, only its rows at the chosen T (the reference method
keeps its own), and say the rule and the chosen T in the caption.
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import pandas as pd

from steerbench.metrics import DEFAULT_REFERENCE, get_metric, order_methods
from steerbench.results import format_T
from steerbench.tables.cross_model import CROSS_COLUMNS, cross_grid
from steerbench.tables.render import (
    metric_order,
    render_latex,
    render_markdown,
    row_order,
    task_grid,
    write_csv,
    write_text,
)
from steerbench.tables.summary import SUMMARY_COLUMNS

SELECTION_KEYS = ["model", "task", "layer", "method"]
SELECTION_COLUMNS = SELECTION_KEYS + ["rule", "metric", "budget", "T", "value", "note",
                                      "test_T", "test_value_at_T", "test_value_at_test_T"]


def at_chosen_T(summary: pd.DataFrame, selection: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Rows of `summary` at each method's chosen T; the reference's rows; a method with no
    chosen T (NaN: nothing on validation, or no T within budget) is left out."""
    chosen = {(r.model, r.task, int(r.layer), r.method): float(r.T)
              for r in selection.itertuples(index=False) if not math.isnan(float(r.T))}
    keep = [row.method == reference or chosen.get((row.model, row.task, int(row.layer), row.method)) == float(row.T)
            for row in summary[SELECTION_KEYS + ["T"]].itertuples(index=False)]
    return summary[keep]


def _rule_text(sel: pd.DataFrame) -> str:
    r = sel.iloc[0]
    if r["rule"] == "best":
        spec = get_metric(r["metric"])
        return f"rule best: the {'highest' if spec.higher_is_better else 'lowest'} validation mean of {spec.label}"
    return f"rule budget: the largest T whose {get_metric(r['metric']).label} rises at most {float(r['budget']):g} over the unsteered baseline on validation"


def selection_caption(selection: pd.DataFrame, method_order: Sequence[str] = ()) -> str:
    """One sentence: the rule and each method's chosen T (per model and layer when several)."""
    multi = selection[["model", "layer"]].drop_duplicates().shape[0] > 1
    parts = []
    for (model, layer), g in selection.groupby(["model", "layer"], sort=True):
        by_method = {r.method: r for r in g.itertuples(index=False)}
        picks = []
        for m in order_methods(list(by_method), list(method_order)):
            T = float(by_method[m].T)
            picks.append(f"{m} T={format_T(T)}" if not math.isnan(T) else f"{m} none ({by_method[m].note})")
        parts.append((f"{model} (L{layer}): " if multi else "") + ", ".join(picks))
    return f"T chosen on the validation split ({_rule_text(selection)}); test scores at that T: {'; '.join(parts)}."


def _with_T_column(grid, rows_keys: list[tuple], multi_model: bool):
    """Insert the T column (the grid drops it when every method has one T)."""
    if "T" in grid.header:
        return grid
    at = 2 if multi_model else 1
    grid.header.insert(at, "T")
    for line, (_, _, _, T) in zip(grid.rows, rows_keys, strict=True):
        line.insert(at, (format_T(T), False, False))
    return grid


def write_selected_task_tables(summary: pd.DataFrame, selection: pd.DataFrame, task: str,
                               method_order: Sequence[str], expected_methods: Iterable[str],
                               out_csv: str | os.PathLike, out_md: str | os.PathLike, out_tex: str | os.PathLike,
                               reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """The task table (CSV long, Markdown, LaTeX) of test scores at the chosen T; returns its rows."""
    sel = selection[selection["task"] == task]
    if sel.empty:
        raise ValueError(f"write_selected_task_tables: the selection has no rows for task {task!r}; rerun select_T")
    sub = at_chosen_T(summary[summary["task"] == task], sel, reference).reset_index(drop=True)
    if sub.empty:
        raise ValueError(f"write_selected_task_tables: no test scores of {task!r} at the chosen T")
    unchosen = {r.method for r in sel.itertuples(index=False) if math.isnan(float(r.T))}
    expected = [m for m in expected_methods if m not in unchosen]
    grid = task_grid(sub, method_order, expected, reference)
    multi_model = sub[["model", "layer"]].drop_duplicates().shape[0] > 1
    grid = _with_T_column(grid, row_order(sub, method_order), multi_model)
    caption = selection_caption(sel, method_order)
    grid.notes.insert(0, caption)
    rank = {m: i for i, m in enumerate(order_methods(sub["method"].unique(), list(method_order)))}
    metric_rank = {m: i for i, m in enumerate(metric_order())}
    long = (sub.assign(_m=sub["method"].map(rank), _k=sub["metric"].map(metric_rank))
            .sort_values(["model", "layer", "_m", "T", "_k"]).drop(columns=["_m", "_k"]))
    write_csv(out_csv, long[SUMMARY_COLUMNS])
    write_text(out_md, render_markdown(grid, title=task))
    write_text(out_tex, render_latex(grid, caption=f"Results on {task}. {caption}", label=f"tab:{task}"))
    return long


_OPTIMISTIC = "Choosing T on the reported scores is optimistic."


def selected_cross_grid(cross: pd.DataFrame, selection: pd.DataFrame, method_order: Sequence[str],
                        expected_methods: Sequence[str], reference: str):
    """The summary grid at the chosen T: its note names the validation rule, not the optimistic pick."""
    grid = cross_grid(cross, method_order, expected_methods, reference)
    note = grid.notes[0].replace("a method swept over T is shown at its best T (@T=...)",
                                 "a method swept over T is shown at the T chosen on validation (@T=...)")
    grid.notes[0] = note.replace(_OPTIMISTIC, f"T chosen on the validation split ({_rule_text(selection)}); "
                                              f"the choice per task: results/<run>/tables/<task>.select_T.csv.")
    return grid


def write_selected_summary_tables(cross: pd.DataFrame, selection: pd.DataFrame, method_order: Sequence[str],
                                  expected_methods: Iterable[str], out_csv, out_md, out_tex,
                                  reference: str = DEFAULT_REFERENCE) -> None:
    grid = selected_cross_grid(cross, selection, method_order, list(expected_methods), reference)
    write_csv(out_csv, cross[CROSS_COLUMNS])
    write_text(out_md, render_markdown(grid, title="Summary: headline metric per model and task"))
    write_text(out_tex, render_latex(grid, caption="Headline metric per model and task, T chosen on validation.",
                                     label="tab:summary"))
