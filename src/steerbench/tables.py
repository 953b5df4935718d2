"""Results tables: per-item scores -> summary with CIs and paired tests -> CSV/Markdown/LaTeX.

The unit of analysis is the prompt: when a run has several seeds, a prompt's score is
the mean of its non-failed seeds (P90 alone is taken over all responses, since averaging
seeds would shrink it), and bootstrap CIs resample prompts. Comparisons with the
reference (NoSteer) pair prompts by id within the same model, task and layer; win-rates
pair by (seed, id), and a seed the reference lacks against all its responses to that
prompt, ties counting 0.5. Failed items (null scores) count against coverage and are
never averaged in.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from steerbench import stats
from steerbench.io import atomic_path
from steerbench.metrics import (
    all_metrics,
    MetricSpec,
    get_metric,
    headline_metric,
    is_ours,
    metrics_for_sources,
    order_methods,
)
from steerbench.results import COLUMNS, format_T

SUMMARY_COLUMNS = [
    "model", "task", "layer", "method", "T", "metric", "mean", "ci_low", "ci_high",
    "n", "n_failed", "coverage", "p_value", "better_than_reference",
]
RUN_KEYS = ["model", "task", "layer", "method", "T"]
DAGGER = "†"


@dataclass(frozen=True)
class _Options:
    reference: str
    n_boot: int
    seed: int
    alpha: float


def _per_prompt(series: pd.Series) -> pd.Series:
    """Seed-averaged score per prompt id, failed (NaN) seeds skipped, all-failed ids dropped."""
    return series.dropna().groupby(level="id").mean()


def _per_response(series: pd.Series) -> pd.DataFrame:
    """Scores as [prompt id x seed] (NaN where a seed failed or is absent), all-failed ids
    dropped: P90 is a statistic of responses, and averaging seeds first would shrink it."""
    return series.unstack("seed").dropna(how="all")


def _nan_row() -> dict:
    return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}


def _aggregate(
    spec: MetricSpec,
    run: dict[tuple[str, str], pd.Series],
    ref: dict[tuple[str, str], pd.Series] | None,
    is_reference: bool,
    opt: _Options,
) -> dict:
    """One summary cell. `run` / `ref` map (scorer, raw metric) to values indexed by (seed, id)."""
    out = _nan_row()
    if spec.aggregate in ("mean", "p90"):
        raw = run[spec.sources[0]]
        total, n_ok = len(raw), int(raw.notna().sum())
        per = _per_prompt if spec.aggregate == "mean" else _per_response
        x = per(raw)
        out["n"] = len(x)
        if len(x):
            out["mean"], out["ci_low"], out["ci_high"] = stats.bootstrap_ci(
                x.to_numpy(), opt.n_boot, opt.seed, spec.aggregate
            )
        if ref is not None and not is_reference and len(x):
            r = per(ref[spec.sources[0]])
            common = x.index.intersection(r.index)
            if len(common):
                a, b = x.loc[common].to_numpy(), r.loc[common].to_numpy()
                if spec.aggregate == "mean":
                    out["p_value"] = stats.sign_flip_test(a - b, opt.n_boot, opt.seed)
                else:
                    out["p_value"] = stats.paired_bootstrap_test(a, b, opt.n_boot, opt.seed, "p90")
                out["_delta"] = stats.estimate(a, spec.aggregate) - stats.estimate(b, spec.aggregate)
    elif spec.aggregate == "win_rate":
        raw = run[spec.sources[0]]
        total = len(raw)
        assert ref is not None  # summarise() leaves win-rates out when there is no reference
        r_raw = ref[spec.sources[0]]
        same_seed = raw.index.isin(r_raw.index)
        pair = pd.concat([raw[same_seed].rename("x"), r_raw.rename("r")], axis=1, join="inner").dropna()
        wins = [pd.Series(stats.win_scores(pair["x"], pair["r"]), index=pair.index)]
        # A seed the reference did not run: that response against each reference response to
        # the same prompt (an item counts only when both it and a reference response scored).
        rest = raw[~same_seed].dropna()
        if len(rest):
            cross = rest.rename("x").reset_index().merge(
                r_raw.dropna().rename("r").reset_index(level="seed", drop=True).reset_index(), on="id")
            cross["w"] = stats.win_scores(cross["x"], cross["r"])
            wins.append(cross.groupby(["seed", "id"])["w"].mean())
        w = pd.concat(wins)
        n_ok = len(w)
        w = w.groupby(level="id").mean()
        out["n"] = len(w)
        if len(w):
            out["mean"], out["ci_low"], out["ci_high"] = stats.bootstrap_ci(
                w.to_numpy(), opt.n_boot, opt.seed, "mean"
            )
            if not is_reference:
                out["p_value"] = stats.sign_flip_test(w.to_numpy() - 0.5, opt.n_boot, opt.seed)
                out["_delta"] = float(w.mean() - 0.5)
    else:  # agreement between two scorers on the same generations
        a_raw, b_raw = run[spec.sources[0]], run[spec.sources[1]]
        both = pd.concat([a_raw.rename("a"), b_raw.rename("b")], axis=1, join="outer")
        total = len(both)
        both = both.dropna()
        n_ok = len(both)
        out["n"] = both.index.get_level_values("id").nunique()
        if n_ok >= 2:
            out["mean"], out["ci_low"], out["ci_high"] = stats.agreement_ci(
                both["a"].to_numpy(), both["b"].to_numpy(), spec.aggregate,
                n_boot=opt.n_boot, seed=opt.seed,
            )
    out["n_failed"] = total - n_ok
    out["coverage"] = n_ok / total if total else math.nan
    return out


def _find_reference(runs: dict[tuple, dict], key: tuple, reference: str) -> dict | None:
    """The reference run for `key` = (model, task, layer, method, T): same model/task/layer,
    else same model/task on any layer (NoSteer does not depend on the layer)."""
    model, task, layer = key[:3]
    same_layer = sorted(k for k in runs if k[:3] == (model, task, layer) and k[3] == reference)
    if same_layer:
        return runs[same_layer[0]]
    any_layer = sorted(k for k in runs if k[:2] == (model, task) and k[3] == reference)
    return runs[any_layer[0]] if any_layer else None


def summarise(
    df: pd.DataFrame,
    reference: str = "NoSteer",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Long summary of a collected per-item table (see :func:`steerbench.results.collect`).

    One row per (model, task, layer, method, T, table metric) with columns
    :data:`SUMMARY_COLUMNS`. ``better_than_reference`` is True when the paired test vs
    the reference gives p < alpha and the difference is in the metric's better direction.
    """
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(
            f"summarise: input lacks columns {sorted(missing)}; pass the output of "
            f"steerbench.results.collect"
        )
    if df.empty:
        raise ValueError("summarise: no score rows; the score files are empty")
    opt = _Options(reference, int(n_boot), int(seed), float(alpha))
    runs: dict[tuple, dict[tuple[str, str], pd.Series]] = {}
    for key, g in df.groupby(RUN_KEYS, sort=True):
        runs[key] = {
            src: sg.set_index(["seed", "id"])["value"]
            for src, sg in g.groupby(["scorer", "metric"], sort=True)
        }
    rows = []
    for key, run in runs.items():
        ref = _find_reference(runs, key, reference)
        is_reference = key[3] == reference
        for spec in metrics_for_sources(set(run)):
            ref_ok = ref if ref is not None and all(s in ref for s in spec.sources) else None
            if spec.aggregate == "win_rate" and ref_ok is None:
                continue  # no reference scores: the table's note says so, no fake 0% row
            cell = _aggregate(spec, run, ref_ok, is_reference, opt)
            delta = cell.pop("_delta", math.nan)
            sign = 1 if spec.higher_is_better else -1
            better = bool(
                spec.paired_test
                and not is_reference
                and np.isfinite(cell["p_value"])
                and cell["p_value"] < alpha
                and sign * delta > 0
            )
            rows.append({**dict(zip(RUN_KEYS, key)), "metric": spec.name, **cell,
                         "better_than_reference": better})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return out.astype({"layer": int, "T": float, "n": int, "n_failed": int})


# ---------------------------------------------------------------------------------------
# Rendering


def fmt_num(x: float) -> str:
    """Fixed precision by magnitude (3 decimals below 10, 2 below 100, else 1); NaN -> '–'."""
    if x is None or not np.isfinite(x):
        return "–"
    ax = abs(x)
    digits = 3 if ax < 10 else 2 if ax < 100 else 1
    return f"{x:.{digits}f}"


def _row_order(sub: pd.DataFrame, method_order: Sequence[str]) -> list[tuple]:
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
class _Grid:
    """A rendered table, independent of the output syntax."""

    header: list[str]
    rows: list[list[tuple[str, bool, bool]]]  # (text, bold, marked) per cell
    notes: list[str]


def _task_grid(summary: pd.DataFrame, method_order: Sequence[str], expected_methods: Sequence[str],
               reference: str) -> _Grid:
    sub = summary.reset_index(drop=True)
    metrics = [m for m in _metric_order() if m in set(sub["metric"])]
    rows_keys = _row_order(sub, method_order)
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
    return _Grid(header, rows, notes)


def _metric_order() -> list[str]:
    return [m.name for m in all_metrics()]


def _md_escape(text: str) -> str:
    # "True*Info" or a method id like "ODESteer_rk4" must not turn into emphasis.
    for ch in ("\\", "|", "*", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def _render_markdown(grid: _Grid, title: str | None = None) -> str:
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


def _render_latex(grid: _Grid, caption: str | None = None, label: str | None = None) -> str:
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


def _write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
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
    reference: str = "NoSteer",
) -> None:
    """Write one task's table as long CSV, Markdown and LaTeX (booktabs).

    `expected_methods` are the configured method ids: those without rows are listed in a
    visible partial-results note instead of being silently dropped.
    """
    sub = summary[summary["task"] == task]
    if sub.empty:
        tasks = sorted(summary["task"].unique())
        raise ValueError(f"write_task_tables: no summary rows for task {task!r} (have: {tasks})")
    grid = _task_grid(sub, method_order, list(expected_methods), reference)
    rank = {m: i for i, m in enumerate(order_methods(sub["method"].unique(), list(method_order)))}
    metric_rank = {m: i for i, m in enumerate(_metric_order())}
    long = (
        sub.assign(_m=sub["method"].map(rank), _k=sub["metric"].map(metric_rank))
        .sort_values(["model", "layer", "_m", "T", "_k"])
        .drop(columns=["_m", "_k"])
    )
    _write_csv(out_csv, long[SUMMARY_COLUMNS])
    _write_text(out_md, _render_markdown(grid, title=task))
    _write_text(out_tex, _render_latex(grid, caption=f"Results on {task}.", label=f"tab:{task}"))


# ---------------------------------------------------------------------------------------
# Cross-model summary (the paper's main table)

CROSS_COLUMNS = [
    "model", "layer", "task", "metric", "method", "T", "n_T", "mean", "ci_low", "ci_high", "n",
    "better_than_reference", "best_baseline", "gain", "gain_pct",
]


def cross_model_summary(
    summary: pd.DataFrame, method_order: Sequence[str] = (), reference: str = "NoSteer",
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


def _cross_grid(cross: pd.DataFrame, method_order: Sequence[str], expected_methods: Sequence[str],
                reference: str) -> _Grid:
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
    return _Grid(header, rows, notes)


def write_summary_tables(
    cross: pd.DataFrame,
    method_order: Sequence[str],
    expected_methods: Iterable[str],
    out_csv: str | os.PathLike,
    out_md: str | os.PathLike,
    out_tex: str | os.PathLike,
    reference: str = "NoSteer",
) -> None:
    """Write the cross-model summary (from :func:`cross_model_summary`) as CSV, Markdown, LaTeX."""
    grid = _cross_grid(cross, method_order, list(expected_methods), reference)
    _write_csv(out_csv, cross[CROSS_COLUMNS])
    _write_text(out_md, _render_markdown(grid, title="Summary: headline metric per model and task"))
    _write_text(out_tex, _render_latex(grid, caption="Headline metric per model and task.",
                                      label="tab:summary"))
