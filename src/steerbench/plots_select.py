"""The "vs T" figure with validation and test (select_T; docs/selection.md).

Test: solid lines with 95% CI bars (as steerbench.plots.plot_metric_vs_T); validation:
dashed lines, hollow markers; the T chosen on validation: a star on the test line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from steerbench.metrics import DEFAULT_REFERENCE, headline_metric, order_methods
from steerbench.plots import FIGSIZE, DPI, _axis_label, _save, _style, _title, plot_task, plt
from steerbench.tables import summarise


def plot_val_test_vs_T(test: pd.DataFrame, val: pd.DataFrame, chosen: dict[str, float], metric: str,
                       methods: Sequence[str], reference: str, title: str) -> plt.Figure:
    """`test` / `val`: summaries of one (model, layer); `chosen`: method -> T chosen on validation."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    for i, method in enumerate(methods):
        style = _style(i)
        for split, s in (("test", test), ("val", val)):
            g = s[(s["metric"] == metric) & (s["method"] == method)].sort_values("T")
            if g.empty or g["mean"].isna().all():
                continue
            if method == reference:
                ax.axhline(g["mean"].iloc[0], color="black", linestyle="--" if split == "test" else ":",
                           linewidth=1, label=f"{method} ({split})")
                continue
            if split == "test":
                err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]])
                ax.errorbar(g["T"], g["mean"], yerr=err, capsize=3, label=f"{method} (test)",
                            marker=style["marker"], color=style["color"], linestyle="-")
                T = chosen.get(method, math.nan)
                at = g[g["T"] == T]
                if not at.empty:
                    ax.plot(at["T"], at["mean"], marker="*", markersize=14, color=style["color"],
                            linestyle="none", markeredgecolor="black")
            else:
                ax.plot(g["T"], g["mean"], marker=style["marker"], color=style["color"], linestyle="--",
                        markerfacecolor="none", label=f"{method} (val)")
    ax.set_xlabel("steering strength T (star: chosen on validation)")
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return fig


def plot_val_test_task(test_df: pd.DataFrame, val_df: pd.DataFrame, selection: pd.DataFrame, task: str,
                       out_dir: str | os.PathLike, method_order: Sequence[str] = (), reference: str = DEFAULT_REFERENCE,
                       n_boot: int = 2000, seed: int = 0) -> list[Path]:
    """plot_task's figures for the test scores, each "<headline>_vs_T" redrawn with validation."""
    out_dir = Path(out_dir)
    test = summarise(test_df[test_df["task"] == task], reference=reference, n_boot=n_boot, seed=seed)
    val = summarise(val_df[val_df["task"] == task], reference=reference, n_boot=n_boot, seed=seed)
    files = plot_task(test_df, task, out_dir, method_order, reference, summary=test, n_boot=n_boot, seed=seed)
    groups = test[["model", "layer"]].drop_duplicates().sort_values(["model", "layer"])
    multi = len(groups) > 1
    for model, layer in groups.itertuples(index=False):
        t = test[(test["model"] == model) & (test["layer"] == layer)]
        v = val[(val["model"] == model) & (val["layer"] == layer)]
        head = headline_metric(task, set(t["metric"]))
        if head is None:
            continue
        sel = selection[(selection["task"] == task) & (selection["model"] == model) & (selection["layer"] == layer)]
        chosen = {r.method: float(r.T) for r in sel.itertuples(index=False)}
        n = int(test_df[(test_df["task"] == task) & (test_df["model"] == model) & (test_df["layer"] == layer)]["id"].nunique())
        methods = order_methods(set(t["method"]) | set(v["method"]), list(method_order))
        suffix = f"_{model}_L{layer}" if multi else ""
        _save(plot_val_test_vs_T(t, v, chosen, head, methods, reference, _title(task, model, layer, multi, n)),
              out_dir, f"{head}_vs_T{suffix}")
    return files
