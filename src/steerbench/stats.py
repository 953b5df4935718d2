"""Seeded, vectorised statistics for results tables.

Confidence intervals are percentile bootstraps over prompts; comparisons with the
reference method are paired by prompt (a sign-flip permutation test for means, a
paired bootstrap for other statistics). Every function takes an explicit seed so a
table is byte-identical across reruns.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

Stat = Callable[[np.ndarray], np.ndarray]  # reduces the last axis


def mean(x: np.ndarray) -> np.ndarray:
    return np.mean(x, axis=-1)


def p90(x: np.ndarray) -> np.ndarray:
    return np.percentile(x, 90, axis=-1)


STATS: dict[str, Stat] = {"mean": mean, "p90": p90}
# The same statistics over every response of a set of prompts ([..., prompts, responses],
# NaN where a prompt has fewer responses): for several seeds per prompt.
_RESPONSE_STATS: dict[str, Stat] = {
    "mean": lambda x: np.nanmean(x.reshape(*x.shape[:-2], -1), axis=-1),
    "p90": lambda x: np.nanpercentile(x.reshape(*x.shape[:-2], -1), 90, axis=-1),
}


def _as_1d(values: object, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-prompt scores, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: no scores; every item failed or none were given")
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"{name}: contains NaN/inf; drop failed items (null scores) before the statistics"
        )
    return x


def _as_items(values: object, name: str) -> np.ndarray:
    """1-D per-prompt scores (finite), or 2-D [prompts, responses] with NaN only as padding
    (every prompt keeps at least one response); one response per prompt is the 1-D case."""
    x = np.asarray(values, dtype=float)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2:
        return _as_1d(x, name)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: no scores; every item failed or none were given")
    if np.isinf(x).any() or np.isnan(x).all(axis=1).any():
        raise ValueError(f"{name}: a prompt without any finite response, or an inf; drop failed prompts first")
    return x


def _response_stat(stat: str | Stat) -> Stat:
    if callable(stat) or stat not in _RESPONSE_STATS:
        raise ValueError(f"statistics over several responses per prompt: use one of {list(_RESPONSE_STATS)}")
    return _RESPONSE_STATS[stat]


def estimate(values: object, stat: str | Stat = "mean") -> float:
    """`stat` of the items (1-D, or 2-D [prompts, responses] as in `bootstrap_ci`)."""
    x = _as_items(values, "estimate values")
    return float((_stat(stat) if x.ndim == 1 else _response_stat(stat))(x))


def _stat(stat: str | Stat) -> Stat:
    if callable(stat):
        return stat
    try:
        return STATS[stat]
    except KeyError:
        raise ValueError(f"unknown statistic {stat!r}; use one of {list(STATS)}") from None


def _resample_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot}: need at least one bootstrap resample")
    return _cached_index(n, n_boot, seed)


@functools.lru_cache(maxsize=32)
def _cached_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    # A table computes hundreds of cells over the same prompts with the same seed: the
    # resample indices are identical, so draw them once (read-only, shared).
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    idx.flags.writeable = False
    return idx


def bootstrap_ci(
    values: object,
    n_boot: int = 2000,
    seed: int = 0,
    stat: str | Stat = "mean",
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high): percentile bootstrap CI of `stat` over the items.

    `values` is 1-D (one score per prompt) or 2-D [prompts, responses] (several seeds, NaN
    padding): then `stat` is taken over all responses and the bootstrap resamples prompts,
    each with all its responses (a cluster bootstrap)."""
    x = _as_items(values, "bootstrap_ci values")
    f = _stat(stat) if x.ndim == 1 else _response_stat(stat)
    if not 0 < level < 1:
        raise ValueError(f"level={level}: the confidence level must lie in (0, 1)")
    boots = f(x[_resample_index(x.shape[0], n_boot, seed)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    # Constant data gives an exactly zero-width interval, not one off by rounding.
    est = float(f(x))
    return est, float(min(lo, est)), float(max(hi, est))


@functools.lru_cache(maxsize=32)
def _cached_bits(n_perm: int, n: int, seed: int) -> np.ndarray:
    bits = np.random.default_rng(seed).integers(0, 2, size=(n_perm, n), dtype=np.int8)
    bits.flags.writeable = False
    return bits


def sign_flip_test(
    diffs: object, n_perm: int = 2000, seed: int = 0
) -> float:
    """Two-sided p-value that paired differences have mean zero (sign-flip permutation).

    Under the null each prompt's difference is as likely to be +d as -d; the p-value
    counts flipped means at least as extreme as the observed one, plus one for the
    observed assignment itself (so it is never exactly zero).
    """
    d = _as_1d(diffs, "sign_flip_test differences")
    if n_perm < 1:
        raise ValueError(f"n_perm={n_perm}: need at least one permutation")
    obs = abs(d.mean())
    if np.all(d == 0):
        return 1.0
    # sum(s_i d_i) with s_i = -1 where a random bit is set: sum(d) - 2 * (bits @ d).
    bits = _cached_bits(n_perm, d.size, seed)
    flipped = np.abs(d.sum() - 2.0 * (bits @ d)) / d.size
    # Tolerance so that the observed assignment's own value counts as "as extreme".
    extreme = np.count_nonzero(flipped >= obs - 1e-12 * max(1.0, obs))
    return float((1 + extreme) / (1 + n_perm))


def paired_bootstrap_test(
    x: object, ref: object, n_boot: int = 2000, seed: int = 0, stat: str | Stat = "mean"
) -> float:
    """Two-sided p-value for stat(x) == stat(ref), resampling prompts jointly.

    Used for statistics other than the mean (e.g. P90), where sign flips do not apply.
    With 2-D [prompts, responses] inputs (see `bootstrap_ci`) the statistic is over all
    responses of the resampled prompts; x and ref may have different numbers of responses.
    """
    a = _as_items(x, "paired_bootstrap_test x")
    b = _as_items(ref, "paired_bootstrap_test ref")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired test: x has {a.shape[0]} items but ref has {b.shape[0]}; pair by id first")
    if a.ndim != b.ndim:  # one response per prompt on one side only: both as [prompts, responses]
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    f = _stat(stat) if a.ndim == 1 else _response_stat(stat)
    idx = _resample_index(a.shape[0], n_boot, seed)
    delta = f(a[idx]) - f(b[idx])
    if np.all(delta == 0):
        return 1.0
    tail = min(np.count_nonzero(delta <= 0), np.count_nonzero(delta >= 0))
    return float(min(1.0, 2 * (tail + 1) / (n_boot + 1)))


def win_scores(x: object, ref: object) -> np.ndarray:
    """Per-item win against the reference: 1 if x > ref, 0.5 on a tie, 0 otherwise."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(ref, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"win_scores: x has shape {a.shape} but ref has {b.shape}; pair by id first")
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata  # here, not at the top: scipy.stats takes ~1 s to import

    ra = rankdata(a, axis=-1)
    rb = rankdata(b, axis=-1)
    ra = ra - ra.mean(axis=-1, keepdims=True)
    rb = rb - rb.mean(axis=-1, keepdims=True)
    num = (ra * rb).sum(axis=-1)
    den = np.sqrt((ra * ra).sum(axis=-1) * (rb * rb).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _auc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # Mann-Whitney form of the ROC AUC, ties counted half; NaN where a class is absent.
    from scipy.stats import rankdata

    r = rankdata(scores, axis=-1)
    n1 = labels.sum(axis=-1)
    n0 = labels.shape[-1] - n1
    u = (r * labels).sum(axis=-1) - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n1 > 0) & (n0 > 0), u / np.where(n1 * n0 > 0, n1 * n0, 1), np.nan)


def spearman(a: object, b: object) -> float:
    x, y = _as_1d(a, "spearman a"), _as_1d(b, "spearman b")
    if x.shape != y.shape:
        raise ValueError(f"spearman: {x.size} vs {y.size} items; pair by id first")
    return float(_spearman_rows(x, y))


def auc(labels: object, scores: object) -> float:
    """ROC AUC of `scores` for binary `labels` (NaN when only one class is present)."""
    y = _as_1d(labels, "auc labels")
    s = _as_1d(scores, "auc scores")
    if y.shape != s.shape:
        raise ValueError(f"auc: {y.size} labels vs {s.size} scores; pair by id first")
    return float(_auc_rows(y, s))


def agreement_ci(
    a: object,
    b: object,
    kind: str,
    threshold: float = 0.5,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) of the agreement of scorer b with reference scorer a.

    kind "spearman": rank correlation; kind "auc": ROC AUC of b's scores against a's
    scores binarised at `threshold` (a >= threshold is toxic). The estimate is NaN when
    undefined (constant ranks, or a single class); then so is the interval.
    """
    x, y = _as_1d(a, "agreement a"), _as_1d(b, "agreement b")
    if x.shape != y.shape:
        raise ValueError(f"agreement: {x.size} vs {y.size} items; pair by id first")
    if kind == "spearman":
        f = _spearman_rows
        u = x
    elif kind == "auc":
        f = _auc_rows
        u = (x >= threshold).astype(float)
    else:
        raise ValueError(f"unknown agreement kind {kind!r}; use 'spearman' or 'auc'")
    est = float(f(u, y))
    if not np.isfinite(est):
        return est, float("nan"), float("nan")
    idx = _resample_index(x.size, n_boot, seed)
    boots = f(u[idx], y[idx])
    boots = boots[np.isfinite(boots)]  # resamples that lost a class carry no information
    if boots.size == 0:
        return est, float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return est, float(min(lo, est)), float(max(hi, est))
