"""Figures of a strength analysis (same look as steerbench.plots: fixed size, PNG + PDF,
grayscale-readable: layers differ by marker and line style, not only colour).

  delta_p_L<l>            Delta p of the top tokens at the largest alpha, per context
  delta_ce[_norm]         Delta CE against alpha (or alpha / mean norm), one line per layer
  mmlu[_norm]             MMLU accuracy against alpha, chance level dashed
  delta_ce_heatmap        layer x alpha heatmap of Delta CE
  presence                judge's concept presence with the sigmoid fit and its midpoint
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steerbench.plots import DPI, FIGSIZE, _save, _style, plt

_X = {"alpha": "steering strength alpha", "alpha_over_norm": "alpha / mean activation norm at the layer"}


def _by_layer(ax, df: pd.DataFrame, x: str, y: str) -> None:
    for i, (layer, g) in enumerate(df.groupby("layer")):
        g = g.sort_values(x)
        style = _style(i)
        ax.plot(g[x], g[y], label=f"L{layer}", markersize=3, **style)
    ax.set_xlabel(_X[x])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_delta_p(curves: pd.DataFrame, layer: int, title: str, max_contexts: int = 4) -> plt.Figure:
    sub = curves[(curves["layer"] == layer) & (curves["end"] == "max")]
    contexts = sorted(sub["context"].unique())[:max_contexts]
    cols = min(2, len(contexts))
    rows = int(np.ceil(len(contexts) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(FIGSIZE[0] * cols / 1.3, FIGSIZE[1] * rows / 1.3), dpi=DPI,
                             layout="constrained", squeeze=False)
    for ax, ctx in zip(axes.flat, contexts):
        g = sub[sub["context"] == ctx]
        for i, (rank, t) in enumerate(g.groupby("rank")):
            t = t.sort_values("alpha")
            ax.plot(t["alpha"], t["delta_p"], label=repr(t["token"].iloc[0]), linewidth=1, color=_style(i)["color"],
                    linestyle=_style(i)["linestyle"])
        ax.set_title(repr(g["context_text"].iloc[0]), fontsize="small")
        ax.set_xlabel(_X["alpha"])
        ax.set_ylabel("Delta p (vs alpha = 0)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="xx-small", ncol=2)
    for ax in list(axes.flat)[len(contexts):]:
        ax.axis("off")
    fig.suptitle(f"{title}: next-token Delta p of the top tokens at the largest alpha, L{layer}", fontsize="small")
    return fig


def plot_line(df: pd.DataFrame, x: str, y: str, ylabel: str, title: str, hline: float | None = None) -> plt.Figure:
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    if hline is not None:
        ax.axhline(hline, color="black", linestyle="--", linewidth=1, label="chance" if hline else None)
    _by_layer(ax, df, x, y)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="small")
    return fig


def plot_heatmap(crossent: pd.DataFrame, title: str) -> plt.Figure:
    piv = crossent.pivot_table(index="layer", columns="alpha", values="delta_ce")
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    im = ax.imshow(piv.to_numpy(), aspect="auto", cmap="viridis", origin="lower")
    ticks = np.linspace(0, piv.shape[1] - 1, min(9, piv.shape[1])).round().astype(int)
    ax.set_xticks(ticks, [f"{piv.columns[i]:g}" for i in ticks], fontsize="x-small")
    ax.set_yticks(range(piv.shape[0]), [f"L{layer}" for layer in piv.index])
    ax.set_xlabel(_X["alpha"])
    ax.set_ylabel("layer")
    fig.colorbar(im, ax=ax, label="Delta cross-entropy (nats / token)")
    ax.set_title(title, fontsize="small")
    return fig


def plot_presence(presence: pd.DataFrame, fits: list[dict], title: str) -> plt.Figure:
    from steerbench.strength.presence import sigmoid

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    fit_of = {f["layer"]: f for f in fits}
    for i, (layer, g) in enumerate(presence.groupby("layer")):
        g = g.sort_values("alpha")
        style = _style(i)
        ax.plot(g["alpha"], g["presence"], marker=style["marker"], color=style["color"], linestyle="none", label=f"L{layer}")
        fit = fit_of.get(layer, {})
        if fit.get("ok"):
            xs = np.linspace(g["alpha"].min(), g["alpha"].max(), 200)
            ax.plot(xs, sigmoid(xs, fit["lo"], fit["hi"], fit["k"], fit["midpoint"]), color=style["color"], linestyle=style["linestyle"],
                    label=f"L{layer} sigmoid, midpoint {fit['midpoint']:.3g}")
            ax.axvline(fit["midpoint"], color=style["color"], linestyle=":", linewidth=1)
    ax.set_xlabel(_X["alpha"])
    ax.set_ylabel("judge's concept presence P(Yes)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    ax.set_title(title, fontsize="small")
    return fig


def write_strength_plots(out_dir: Path, *, curves: pd.DataFrame, crossent: pd.DataFrame, mmlu: pd.DataFrame,
                         presence: pd.DataFrame, fits: list[dict], title: str) -> list[Path]:
    """Every figure the given tables allow, into out_dir; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for layer in sorted(curves["layer"].unique()) if not curves.empty else []:
        paths += _save(plot_delta_p(curves, int(layer), title), out_dir, f"delta_p_L{int(layer)}")
    if not crossent.empty:
        for x, suffix in (("alpha", ""), ("alpha_over_norm", "_norm")):
            paths += _save(plot_line(crossent, x, "delta_ce", "Delta cross-entropy vs alpha = 0 (nats / token)", f"{title}: held-out Delta CE"),
                           out_dir, f"delta_ce{suffix}")
        paths += _save(plot_heatmap(crossent, f"{title}: Delta CE, layer x alpha"), out_dir, "delta_ce_heatmap")
    if not mmlu.empty:
        scoring = mmlu["scoring"].iloc[0]
        for x, suffix in (("alpha", ""), ("alpha_over_norm", "_norm")):
            paths += _save(plot_line(mmlu, x, "accuracy", f"MMLU accuracy ({scoring} scoring)", f"{title}: MMLU accuracy", hline=0.25),
                           out_dir, f"mmlu{suffix}")
    if not presence.empty:
        paths += _save(plot_presence(presence, fits, f"{title}: concept presence (judge) and sigmoid fit"), out_dir, "presence")
    return paths
