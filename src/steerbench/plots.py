"""Figures of one task: headline metric vs T, alignment/quality trade-offs, score distributions.

Every figure is written as PNG and PDF at a fixed pixel size (FIGSIZE x DPI), and stays
readable in grayscale: methods differ by marker and line style, not only by colour.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: cluster nodes and CI have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from steerbench.io import atomic_path  # noqa: E402
from steerbench.metrics import DEFAULT_REFERENCE, get_metric, headline_metric, headline_order, order_methods  # noqa: E402
from steerbench.results import collect, format_T  # noqa: E402
from steerbench.tables import summarise  # noqa: E402

FIGSIZE = (6.4, 4.8)  # inches
DPI = 100  # -> 640 x 480 pixel PNGs
FORMATS = ("png", "pdf")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_LINESTYLES = ("-", "--", ":", "-.")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")


def _style(i: int) -> dict:
    cmap = plt.get_cmap("tab10")
    return {
        "marker": _MARKERS[i % len(_MARKERS)],
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        "color": cmap(i % 10),
    }


def _axis_label(metric: str) -> str:
    spec = get_metric(metric)
    return f"{spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better)"


def _save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"plot name {name!r} must be a plain file name")
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{name}.{ext}"
        # Fixed metadata dates keep reruns byte-stable where the backend allows it.
        meta = {"CreationDate": None} if ext == "pdf" else {}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


def _title(task: str, model: str, layer: int, multi: bool, n_prompts: int) -> str:
    where = f"{task} — {model} (L{layer})" if multi else task
    return f"{where}, {n_prompts} prompts"


def plot_metric_vs_T(summary: pd.DataFrame, metric: str, methods: Sequence[str],
                     reference: str, title: str) -> plt.Figure:
    """Metric mean with 95% CI error bars vs T, one line per method; the reference as a band."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    sub = summary[summary["metric"] == metric]
    for i, method in enumerate(methods):
        g = sub[sub["method"] == method].sort_values("T")
        if g.empty or g["mean"].isna().all():
            continue
        if method == reference:
            r = g.iloc[0]
            ax.axhline(r["mean"], color="black", linestyle="--", linewidth=1, label=method)
            ax.axhspan(r["ci_low"], r["ci_high"], color="0.85", zorder=0)
            continue
        err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]])
        ax.errorbar(g["T"], g["mean"], yerr=err, capsize=3, label=method, **_style(i))
    ax.set_xlabel("steering strength T")
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_tradeoff(summary: pd.DataFrame, x_metric: str, y_metric: str, methods: Sequence[str],
                  title: str) -> plt.Figure:
    """One point per (method, T) with CIs on both axes; points labelled with their T."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    piv = summary[summary["metric"].isin([x_metric, y_metric])].pivot_table(
        index=["method", "T"], columns="metric", values=["mean", "ci_low", "ci_high"])
    for i, method in enumerate(methods):
        if method not in piv.index.get_level_values("method"):
            continue
        g = piv.loc[method].dropna()
        if g.empty:
            continue
        xm, ym = g[("mean", x_metric)], g[("mean", y_metric)]
        xerr = np.vstack([xm - g[("ci_low", x_metric)], g[("ci_high", x_metric)] - xm])
        yerr = np.vstack([ym - g[("ci_low", y_metric)], g[("ci_high", y_metric)] - ym])
        style = _style(i)
        ax.errorbar(xm, ym, xerr=xerr, yerr=yerr, capsize=2, label=method,
                    marker=style["marker"], color=style["color"], linestyle="none")
        if len(g) > 1:
            ax.plot(xm, ym, linestyle=style["linestyle"], color=style["color"], linewidth=0.8)
        for T, x, y in zip(g.index, xm, ym):
            ax.annotate(f"T={format_T(T)}", (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small")
    ax.set_xlabel(_axis_label(x_metric))
    ax.set_ylabel(_axis_label(y_metric))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_distribution(values: pd.DataFrame, metric: str, methods: Sequence[str],
                      title: str) -> plt.Figure:
    """Box plots of per-prompt scores (seed-averaged) for each (method, T).

    `values`: rows (method, T, id, value) of one raw metric, failed items already dropped.
    """
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    data, labels, styles = [], [], []
    for i, method in enumerate(methods):
        g = values[values["method"] == method]
        for T in sorted(g["T"].unique()):
            per_prompt = g[g["T"] == T].groupby("id")["value"].mean()
            data.append(per_prompt.to_numpy())
            labels.append(method if g["T"].nunique() == 1 else f"{method}\nT={format_T(T)}")
            styles.append(i)
    if data:
        box = ax.boxplot(data, patch_artist=True, showmeans=True, widths=0.6)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for patch, i in zip(box["boxes"], styles):
            patch.set_facecolor(_style(i)["color"])
            patch.set_alpha(0.5)
            patch.set_hatch(_HATCHES[i % len(_HATCHES)])
    ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    ax.set_ylabel(_axis_label(metric) + " per prompt")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return fig


# Trade-off pairs (y, x) drawn when both metrics are present, besides headline vs PPL.
_EXTRA_TRADEOFFS = (("true", "info"),)


def plot_task(
    df: pd.DataFrame,
    task: str,
    out_dir: str | os.PathLike,
    method_order: Sequence[str] = (),
    reference: str = DEFAULT_REFERENCE,
    summary: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> list[Path]:
    """Write every figure of `task` into `out_dir` (PNG + PDF each); returns the files.

    `df` is the per-item table from :func:`steerbench.results.collect`; `summary` (from
    :func:`steerbench.tables.summarise`) is computed when not given. Figures:
    ``<headline>_vs_T``, ``tradeoff_<y>_vs_<x>``, ``distribution_<metric>``, with a
    ``_<model>_L<layer>`` suffix when the task has several models or layers.
    """
    items = df[df["task"] == task]
    if items.empty:
        raise ValueError(f"plot_task: no scores for task {task!r} (have: {sorted(df['task'].unique())})")
    if summary is None:
        summary = summarise(items, reference=reference, n_boot=n_boot, seed=seed)
    summary = summary[summary["task"] == task]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = summary[["model", "layer"]].drop_duplicates().sort_values(["model", "layer"])
    multi = len(groups) > 1
    files: list[Path] = []
    for model, layer in groups.itertuples(index=False):
        s = summary[(summary["model"] == model) & (summary["layer"] == layer)]
        it = items[(items["model"] == model) & (items["layer"] == layer)]
        suffix = f"_{model}_L{layer}" if multi else ""
        title = _title(task, model, layer, multi, int(it["id"].nunique()))
        methods = order_methods(s["method"].unique(), list(method_order))
        present = set(s["metric"])
        head = headline_metric(task, present)
        if head is None:
            continue
        files += _save(plot_metric_vs_T(s, head, methods, reference, title), out_dir,
                       f"{head}_vs_T{suffix}")
        ys = [m for m in (headline_order(task) or (head,)) if m in present] or [head]
        pairs = [(y, "ppl") for y in ys if "ppl" in present]
        pairs += [(y, x) for y, x in _EXTRA_TRADEOFFS if y in present and x in present]
        for y, x in pairs:
            files += _save(plot_tradeoff(s, x, y, methods, title), out_dir,
                           f"tradeoff_{y}_vs_{x}{suffix}")
        for metric in ys:
            spec = get_metric(metric)
            if spec.aggregate not in ("mean", "p90"):
                continue  # win-rates and agreements have no per-prompt raw score
            scorer, raw = spec.sources[0]
            vals = it[(it["scorer"] == scorer) & (it["metric"] == raw)].dropna(subset=["value"])
            if vals.empty:
                continue
            files += _save(plot_distribution(vals, metric, methods, title), out_dir,
                           f"distribution_{metric}{suffix}")
    if not files:
        raise ValueError(f"plot_task: task {task!r} has no metric to plot; check its scorers")
    return files


def plot_scores(
    score_files: Sequence[str | os.PathLike],
    task: str,
    out_dir: str | os.PathLike,
    methods: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
    reference: str = DEFAULT_REFERENCE,
) -> list[Path]:
    """Score files of one task -> all its figures in `out_dir` (one call per workflow rule)."""
    return plot_task(collect(score_files), task, out_dir, methods, reference, n_boot=n_boot, seed=seed)
