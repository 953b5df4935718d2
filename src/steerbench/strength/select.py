"""Choosing a method's strength T on validation data, by a stated rule.

`choose_T(validation_summary, rule, budget)` takes a long summary (steerbench.tables
SUMMARY_COLUMNS: model, task, layer, method, T, metric, mean, ...) of a validation split
and returns one chosen T per (model, task, layer, method):

- rule "best": the T with the best mean of the headline metric (its direction from
  steerbench.metrics); ties go to the smaller T (the weaker intervention).
- rule "budget": the largest T whose cost stays within `budget`: cost = mean of
  `cost_metric` (perplexity by default, or a Delta CE column) at T minus its mean for the
  unsteered baseline (the method's own T = 0 row, else the `reference` method's row).
  No T within budget gives T = NaN and says so in `note`.
"""

from __future__ import annotations

import math

import pandas as pd

from steerbench.metrics import DEFAULT_REFERENCE, get_metric

RULES = ("best", "budget")
GROUP = ["model", "task", "layer", "method"]


def _baseline(summary: pd.DataFrame, key: tuple, cost_metric: str, reference: str) -> float | None:
    rows = summary[(summary["metric"] == cost_metric)]
    for k, v in zip(GROUP[:3], key[:3]):
        rows = rows[rows[k] == v]
    own = rows[(rows["method"] == key[3]) & (rows["T"] == 0)]
    ref = rows[rows["method"] == reference]
    for cand in (own, ref):
        if not cand.empty:
            return float(cand["mean"].iloc[0])
    return None


def choose_T(validation_summary: pd.DataFrame, rule: str, budget: float | None = None, *, metric: str | None = None,
             cost_metric: str = "ppl", reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """One row per (model, task, layer, method): T, rule, metric, value, cost, note."""
    if rule not in RULES:
        raise ValueError(f"strength selection rule {rule!r} is not one of {', '.join(RULES)}")
    if rule == "best" and not metric:
        raise ValueError("rule 'best' needs the headline `metric` to maximise (or minimise)")
    if rule == "budget" and (budget is None or not budget >= 0):
        raise ValueError(f"rule 'budget' needs a budget >= 0 on the {cost_metric} cost, got {budget!r}")
    missing = set(GROUP + ["T", "metric", "mean"]) - set(validation_summary.columns)
    if missing:
        raise ValueError(f"choose_T: the validation summary lacks columns {sorted(missing)}; pass steerbench.tables.summarise output")
    s = validation_summary
    out = []
    for key, g in s[s["method"] != reference].groupby(GROUP, sort=True):
        row = dict(zip(GROUP, key), rule=rule, metric=metric if rule == "best" else cost_metric, budget=budget)
        if rule == "best":
            m = g[(g["metric"] == metric) & g["mean"].notna()]
            if m.empty:
                out.append({**row, "T": math.nan, "value": math.nan, "note": f"no {metric} scores on validation"})
                continue
            sign = 1 if get_metric(metric).higher_is_better else -1
            best = m.assign(_score=sign * m["mean"]).sort_values(["_score", "T"], ascending=[False, True]).iloc[0]
            out.append({**row, "T": float(best["T"]), "value": float(best["mean"]), "note": ""})
        else:
            base = _baseline(s, key, cost_metric, reference)
            c = g[(g["metric"] == cost_metric) & g["mean"].notna()].sort_values("T")
            if base is None or c.empty:
                out.append({**row, "T": math.nan, "value": math.nan, "note": f"no {cost_metric} for the method or its unsteered baseline"})
                continue
            within = c[c["mean"] - base <= budget]
            if within.empty:
                least = float((c["mean"] - base).min())
                out.append({**row, "T": math.nan, "value": math.nan, "note": f"no T within budget (smallest cost {least:.4g})"})
                continue
            top = within.iloc[-1]
            out.append({**row, "T": float(top["T"]), "value": float(top["mean"] - base), "note": ""})
    return pd.DataFrame(out)
