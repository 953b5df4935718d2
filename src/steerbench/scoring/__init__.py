"""Scorers: each turns generation rows into one score row per item,
{"id", <metric>: float | None, ..., "error": None | str} (docs/architecture.md, "Scoring").

One module per scorer, imported on demand (they pull in heavy dependencies):
quality (ppl, Dist-n), similarity (sim_acc), multiple_choice (mc1, mc2), judges (true,
info, true_info), reward (reward), perspective + perspective_cache (toxicity via the
API), toxicity_open (toxicity, offline). Each declares a ScorerSpec (registry.py).
"""

from .coverage import check_coverage, coverage_summary


def scorer_metrics(scorer: str) -> tuple[str, ...]:
    """The raw metrics `scorer` writes per item (its spec's raw_metrics); coverage is checked on them."""
    from .registry import get_scorer

    return get_scorer(scorer).raw_metrics


__all__ = ["check_coverage", "coverage_summary", "scorer_metrics"]
