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

import numpy as np
import pandas as pd

from steerbench import stats
from steerbench.io import atomic_path
from steerbench.metrics import DEFAULT_REFERENCE, MetricSpec, metrics_for_sources
from steerbench.results import COLUMNS

SUMMARY_COLUMNS = [
    "model", "task", "layer", "method", "T", "metric", "mean", "ci_low", "ci_high",
    "n", "n_failed", "coverage", "p_value", "better_than_reference",
]
RUN_KEYS = ["model", "task", "layer", "method", "T"]


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
    reference: str = DEFAULT_REFERENCE,
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



_FLOAT_COLUMNS = ["T", "mean", "ci_low", "ci_high", "coverage", "p_value"]


def write_summary(summary: pd.DataFrame, path: str | os.PathLike) -> None:
    """The long summary as CSV, every float to 17 significant digits: reading it back
    (:func:`read_summary`) gives the same numbers bit for bit, so tables and plots drawn
    from the file equal those drawn from the summary in memory."""
    with atomic_path(path) as tmp:
        summary[SUMMARY_COLUMNS].to_csv(tmp, index=False, float_format="%.17g")


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """A summary written by :func:`write_summary`; names stay text (a method called "NA" too)."""
    try:
        df = pd.read_csv(
            path, keep_default_na=False, na_values={c: [""] for c in _FLOAT_COLUMNS},
            float_precision="round_trip",
            dtype={"model": str, "task": str, "method": str, "metric": str},
        )
    except (FileNotFoundError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: no summary ({exc}); rerun its `summarise` job") from exc
    missing = set(SUMMARY_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a steerbench summary, lacks columns {sorted(missing)}; "
                         f"rerun its `summarise` job")
    return df[SUMMARY_COLUMNS].astype({"layer": int, "T": float, "n": int, "n_failed": int,
                                       "better_than_reference": bool})
