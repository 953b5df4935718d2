"""Rendering: a long summary (one row per run and metric) -> a task's CSV/Markdown/LaTeX table.

A table is built once as a grid of (text, bold, marked) cells; Markdown and LaTeX are two
writers of that grid, so both always show the same numbers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from steerbench.io import atomic_path
from steerbench.metrics import DEFAULT_REFERENCE, all_metrics, get_metric, order_methods
from steerbench.results import format_T
from steerbench.tables.summary import SUMMARY_COLUMNS

DAGGER = "†"


def fmt_num(x: float) -> str:
    """Fixed precision by magnitude (3 decimals below 10, 2 below 100, else 1); NaN -> '–'."""
    if x is None or not np.isfinite(x):
        return "–"
    ax = abs(x)
    digits = 3 if ax < 10 else 2 if ax < 100 else 1
    return f"{x:.{digits}f}"


def row_order(sub: pd.DataFrame, method_order: Sequence[str]) -> list[tuple]:
    methods = order_methods(sub["method"].unique(), list(method_order))
    keys = sub[["model", "layer", "method", "T"]].drop_duplicates()
    rank = {m: i for i, m in enumerate(methods)}
    keys = keys.assign(_r=keys["method"].map(rank)).sort_values(["model", "layer", "_r", "T"])
    return [tuple(r) for r in keys[["model", "layer", "method", "T"]].itertuples(index=False)]


def _best_mask(sub: pd.DataFrame, reference: str) -> pd.Series:
    """True for the best mean per (model, layer, metric) column; ties all bold.

    Agreement columns describe the scorers, not the methods, so they get no bold; nor does
    the reference's win-rate against itself (0.5 by construction)."""
    best = pd.Series(False, index=sub.index)
    for (_, _, metric), g in sub.groupby(["model", "layer", "metric"]):
        if not get_metric(metric).paired_test:
            continue
        if get_metric(metric).aggregate == "win_rate":
            g = g[g["method"] != reference]
        # Compare the values as printed, so rows that read the same are bold together.
        vals = g["mean"].dropna().map(lambda v: float(fmt_num(v)))
        if len(vals) < 2:
            continue  # a single row is trivially "best"; bolding it says nothing
        target = vals.max() if get_metric(metric).higher_is_better else vals.min()
        best.loc[vals.index[vals == target]] = True
    return best


@dataclass
class Grid:
    """A rendered table, independent of the output syntax."""

    header: list[str]
    rows: list[list[tuple[str, bool, bool]]]  # (text, bold, marked) per cell
    notes: list[str]


def task_grid(summary: pd.DataFrame, method_order: Sequence[str], expected_methods: Sequence[str],
               reference: str) -> Grid:
    sub = summary.reset_index(drop=True)
    metrics = [m for m in metric_order() if m in set(sub["metric"])]
    rows_keys = row_order(sub, method_order)
    multi_model = sub[["model", "layer"]].drop_duplicates().shape[0] > 1
    multi_T = (sub.groupby("method")["T"].nunique() > 1).any()
    best = _best_mask(sub, reference)
    cells = {(r["model"], r["layer"], r["method"], r["T"], r["metric"]): (r, best[i])
             for i, r in sub.iterrows()}

    header = (["Model"] if multi_model else []) + ["Method"] + (["T"] if multi_T else [])
    for m in metrics:
        spec = get_metric(m)
        header.append(f"{spec.label} {'↑' if spec.higher_is_better else '↓'}")
    header.append("Coverage")
    rows = []
    for model, layer, method, T in rows_keys:
        line: list[tuple[str, bool, bool]] = []
        if multi_model:
            line.append((f"{model} (L{layer})", False, False))
        line.append((method, False, False))
        if multi_T:
            line.append((format_T(T), False, False))
        covs = []
        for m in metrics:
            hit = cells.get((model, layer, method, T, m))
            if hit is None:
                line.append(("–", False, False))
                continue
            r, is_best = hit
            covs.append(r["coverage"])
            if np.isfinite(r["mean"]):
                text = f"{fmt_num(r['mean'])} [{fmt_num(r['ci_low'])}, {fmt_num(r['ci_high'])}]"
            else:
                text = "–"
            line.append((text, bool(is_best), bool(r["better_than_reference"])))
        cov = min((c for c in covs if np.isfinite(c)), default=math.nan)
        line.append((f"{100 * cov:.0f}%" if np.isfinite(cov) else "–", False, False))
        rows.append(line)

    notes = []
    n = sub["n"]
    n_text = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    notes.append(
        f"Cells: mean [95% bootstrap CI] over prompts (n = {n_text} per cell); "
        f"bold: best per column; {DAGGER}: better than {reference} under a paired test "
        f"(p < 0.05); –: no scores; Coverage: share of items scored (the lowest over the "
        f"row's metrics)."
    )
    present = set(sub["method"])
    expected = list(dict.fromkeys(expected_methods))
    # Checked per model and layer: a method done for one model may be missing for another.
    for (model, layer), g in sub.groupby(["model", "layer"], sort=True):
        missing = [m for m in expected if m not in set(g["method"])]
        if missing:
            where = f" for {model} (L{layer})" if multi_model else ""
            notes.append(
                f"PARTIAL RESULTS: no scores yet{where} for {', '.join(missing)} "
                f"({len(expected) - len(missing)} of {len(expected)} configured methods)."
            )
    if reference not in present:
        notes.append(f"{reference} is missing: no paired tests or win-rates.")
    if (sub["coverage"] < 1).any():
        low = order_methods(sub.loc[sub["coverage"] < 1, "method"].unique(), list(method_order))
        notes.append(f"Some items failed to score for {', '.join(low)}; see Coverage.")
    return Grid(header, rows, notes)


def metric_order() -> list[str]:
    return [m.name for m in all_metrics()]


def _md_escape(text: str) -> str:
    # "True*Info" or a method id like "ODESteer_rk4" must not turn into emphasis.
    for ch in ("\\", "|", "*", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def render_markdown(grid: Grid, title: str | None = None) -> str:
    def cell(text: str, bold: bool, marked: bool) -> str:
        text = _md_escape(text) + (DAGGER if marked else "")
        return f"**{text}**" if bold else text

    lines = []
    if title:
        lines += [f"## {title}", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in grid.header) + " |")
    lines.append("|" + "|".join("---" for _ in grid.header) + "|")
    for row in grid.rows:
        lines.append("| " + " | ".join(cell(*c) for c in row) + " |")
    lines.append("")
    for note in grid.notes:
        lines.append(f"> {note}" if note.startswith("PARTIAL") else f"_{note}_")
        lines.append("")
    return "\n".join(lines)


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_TEX_SYMBOLS = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "–": "--", "†": r"$^\dagger$",
                "Δ": r"$\Delta$"}


def tex_escape(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    for sym, tex in _TEX_SYMBOLS.items():
        out = out.replace(sym, tex)
    return out


def render_latex(grid: Grid, caption: str | None = None, label: str | None = None) -> str:
    def cell(text: str, bold: bool, marked: bool) -> str:
        body = tex_escape(text)
        body = rf"\textbf{{{body}}}" if bold else body
        return body + (r"$^\dagger$" if marked else "")

    ncols = len(grid.header)
    n_text = sum(1 for h in grid.header if h in ("Model", "Method", "T"))
    spec = "l" * n_text + "c" * (ncols - n_text)
    lines = [r"% Requires \usepackage{booktabs}.", r"\begin{table}[t]", r"\centering", r"\small"]
    if caption:
        lines.append(rf"\caption{{{tex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(tex_escape(h) for h in grid.header) + r" \\")
    lines.append(r"\midrule")
    for row in grid.rows:
        lines.append(" & ".join(cell(*c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    for note in grid.notes:
        lines.append(rf"\par\smallskip{{\footnotesize {tex_escape(note)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


def write_task_tables(
    summary: pd.DataFrame,
    task: str,
    method_order: Sequence[str],
    expected_methods: Iterable[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    reference: str = DEFAULT_REFERENCE,
) -> None:
    """Write one task's table as long CSV, Markdown and LaTeX (booktabs).

    `expected_methods` are the configured method ids: those without rows are listed in a
    visible partial-results note instead of being silently dropped.
    """
    sub = summary[summary["task"] == task]
    if sub.empty:
        tasks = sorted(summary["task"].unique())
        raise ValueError(f"write_task_tables: no summary rows for task {task!r} (have: {tasks})")
    grid = task_grid(sub, method_order, list(expected_methods), reference)
    rank = {m: i for i, m in enumerate(order_methods(sub["method"].unique(), list(method_order)))}
    metric_rank = {m: i for i, m in enumerate(metric_order())}
    long = (
        sub.assign(_m=sub["method"].map(rank), _k=sub["metric"].map(metric_rank))
        .sort_values(["model", "layer", "_m", "T", "_k"])
        .drop(columns=["_m", "_k"])
    )
    write_csv(out_csv, long[SUMMARY_COLUMNS])
    write_text(out_md, render_markdown(grid, title=task))
    write_text(out_tex, render_latex(grid, caption=f"Results on {task}.", label=f"tab:{task}"))
