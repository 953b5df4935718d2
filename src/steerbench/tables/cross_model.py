"""Cross-model summary (the paper's main table): each task's headline metric per model and
method, and each method's gain over the best baseline."""

from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from steerbench.metrics import DEFAULT_REFERENCE, get_metric, headline_metric, is_ours, order_methods
from steerbench.results import format_T
from steerbench.tables.render import DAGGER, Grid, fmt_num, render_latex, render_markdown, write_csv, write_text

CROSS_COLUMNS = [
    "model", "layer", "task", "metric", "method", "T", "n_T", "mean", "ci_low", "ci_high", "n",
    "better_than_reference", "best_baseline", "gain", "gain_pct",
]


def cross_model_summary(
    summary: pd.DataFrame, method_order: Sequence[str] = (), reference: str = DEFAULT_REFERENCE,
    ours: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Headline metric per (model, layer, task, method), and each method's gain over the best baseline.

    A method swept over several T is represented by its best T on the headline metric
    (the paper's main table also reports each method at its chosen strength).
    ``gain_pct`` is the relative improvement over the best baseline in the better
    direction (positive = better); baselines are the methods that are neither the
    reference nor of the ODESteer family (`ours`: their ids, from the config's steerers;
    None: guessed from the id). NaN when there is no baseline.
    """
    in_ours = is_ours if ours is None else set(ours).__contains__
    rows = []
    for (model, layer, task), g in summary.groupby(["model", "layer", "task"], sort=True):
        metric = headline_metric(task, set(g["metric"]))
        if metric is None:
            continue
        spec = get_metric(metric)
        h = g[(g["metric"] == metric) & g["mean"].notna()]
        if h.empty:
            continue
        pick = h.loc[h.groupby("method")["mean"].idxmax() if spec.higher_is_better
                     else h.groupby("method")["mean"].idxmin()]
        baselines = pick[(pick["method"] != reference) & ~pick["method"].map(in_ours)]
        best_base = None
        if len(baselines):
            best_base = baselines.loc[baselines["mean"].idxmax() if spec.higher_is_better
                                      else baselines["mean"].idxmin()]
        for _, r in pick.iterrows():
            gain = gain_pct = math.nan
            if best_base is not None and r["method"] != reference:
                # Oriented so that positive always means better; +0.0 avoids printing "-0.0".
                gain = (r["mean"] - best_base["mean"]) * (1 if spec.higher_is_better else -1) + 0.0
                if spec.ratio_scale and best_base["mean"] != 0:
                    gain_pct = 100 * gain / abs(best_base["mean"]) + 0.0
            rows.append({
                "model": model, "layer": layer, "task": task, "metric": metric,
                "method": r["method"], "T": r["T"], "n_T": int((h["method"] == r["method"]).sum()),
                "mean": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"],
                "better_than_reference": r["better_than_reference"],
                "best_baseline": None if best_base is None else best_base["method"],
                "gain": gain,
                "gain_pct": gain_pct,
            })
    out = pd.DataFrame(rows, columns=CROSS_COLUMNS)
    if out.empty:
        raise ValueError("cross_model_summary: no task has a headline metric with scores")
    rank = {m: i for i, m in enumerate(order_methods(out["method"].unique(), list(method_order)))}
    return out.assign(_r=out["method"].map(rank)).sort_values(
        ["model", "layer", "task", "_r"]).drop(columns="_r").reset_index(drop=True)


def cross_grid(cross: pd.DataFrame, method_order: Sequence[str], expected_methods: Sequence[str],
                reference: str) -> Grid:
    cols = cross[["model", "layer", "task", "metric"]].drop_duplicates().sort_values(
        ["task", "model", "layer"])
    layers_per_model = cross.groupby("model")["layer"].nunique()
    header = ["Method"]
    col_keys = []
    for c in cols.itertuples(index=False):
        spec = get_metric(c.metric)
        model = c.model if layers_per_model[c.model] == 1 else f"{c.model} L{c.layer}"
        header.append(f"{c.task} / {model}: {spec.label} {'↑' if spec.higher_is_better else '↓'}")
        col_keys.append((c.model, c.layer, c.task))
    methods = order_methods(cross["method"].unique(), list(method_order))
    by_key = {(r.model, r.layer, r.task, r.method): r for r in cross.itertuples(index=False)}
    best = {}
    for key in col_keys:
        vals = [float(fmt_num(by_key[(*key, m)].mean)) for m in methods if (*key, m) in by_key]
        spec = get_metric(by_key[next((*key, m) for m in methods if (*key, m) in by_key)].metric)
        best[key] = (max(vals) if spec.higher_is_better else min(vals)) if len(vals) > 1 else None
    rows = []
    for m in methods:
        line = [(m, False, False)]
        for key in col_keys:
            r = by_key.get((*key, m))
            if r is None:
                line.append(("–", False, False))
                continue
            text = fmt_num(r.mean) + (f" @T={format_T(r.T)}" if r.n_T > 1 else "")
            if np.isfinite(r.gain_pct):
                text += f" ({r.gain_pct:+.1f}%)"
            elif np.isfinite(r.gain):
                text += f" (Δ{'+' if r.gain >= 0 else '-'}{fmt_num(abs(r.gain))})"
            is_best = best[key] is not None and float(fmt_num(r.mean)) == best[key]
            line.append((text, is_best, bool(r.better_than_reference)))
        rows.append(line)
    notes = [
        "Cells: headline metric mean (gain over the best baseline, positive = better: relative "
        "in %, or a difference Δ for reward scores, which have no meaningful zero); "
        f"a method swept over T is shown at its best T (@T=...); bold: best per column; {DAGGER}: better "
        f"than {reference} under a paired test (p < 0.05). Baselines: every method except "
        f"{reference} and the ODESteer family. Choosing T on the reported scores is optimistic."
    ]
    missing = [m for m in expected_methods if m not in set(cross["method"])]
    if missing:
        notes.append(f"PARTIAL RESULTS: no scores yet for {', '.join(missing)}.")
    return Grid(header, rows, notes)


def write_summary_tables(
    cross: pd.DataFrame,
    method_order: Sequence[str],
    expected_methods: Iterable[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    reference: str = DEFAULT_REFERENCE,
) -> None:
    """Write the cross-model summary (from :func:`cross_model_summary`) as CSV, Markdown, LaTeX."""
    grid = cross_grid(cross, method_order, list(expected_methods), reference)
    write_csv(out_csv, cross[CROSS_COLUMNS])
    write_text(out_md, render_markdown(grid, title="Summary: headline metric per model and task"))
    write_text(out_tex, render_latex(grid, caption="Headline metric per model and task.",
                                     label="tab:summary"))
