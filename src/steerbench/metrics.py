"""The metric registry: what each table column is, where it comes from, and which way is better.

Score files hold *raw* per-item metrics (``ppl``, ``reward``, ``toxicity`` ...), named by
the scorer that wrote them. A *table metric* is one column of a results table: a raw
metric from one scorer, aggregated one way (mean, P90, win-rate vs the reference, or an
agreement between two scorers). Keeping this in one place means the tables, the plots
and the cross-model summary agree on names, labels and directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Aggregate = Literal["mean", "p90", "win_rate", "spearman", "auc"]


@dataclass(frozen=True)
class MetricSpec:
    """One table column.

    ``sources`` lists the (scorer, raw metric) pairs it is computed from: one for the
    per-item aggregates, two (reference scorer first) for an agreement between scorers.
    """

    name: str
    label: str
    sources: tuple[tuple[str, str], ...]
    aggregate: Aggregate
    higher_is_better: bool
    # The paired test vs the reference makes no sense for agreement statistics.
    paired_test: bool = True
    # Relative gains (in %) need a ratio scale with a meaningful zero; a reward model's
    # score can be negative or near zero, so its gain is reported as a difference.
    ratio_scale: bool = True
    # Whether it may be a task's headline (a summary column): not for text-quality or
    # agreement columns.
    headline: bool = True


def all_metrics() -> tuple[MetricSpec, ...]:
    """Every table metric, in table order: each scorer's columns (declared in its spec,
    steerbench.scoring.registry), scorers by column rank."""
    from steerbench.scoring.registry import scorers

    return tuple(m for spec in scorers().values() for m in spec.table_metrics)


# The paper's method order; configured ids not listed here follow in config order.
PAPER_METHOD_ORDER: tuple[str, ...] = (
    "NoSteer",
    "CAA",
    "RepE",
    "ITI",
    "MiMiC",
    "LinAcT",
    "HPR",
    "RE-Control",
    "TruthFlow",
    "StepODESteer",
    "ODESteer",
    "RFFODESteer",
)

# The method every other one is compared with (paired tests, gains, win rate) when a
# caller names none: the library's default, and the schema's `reference:` default.
DEFAULT_REFERENCE = "NoSteer"

# Steerers counted as "ours" when computing the gain over the best baseline; a method's
# family is its config's `methods.<id>.steerer` (ours_methods), the id prefix only
# where no config is at hand (is_ours).
OURS_FAMILY: tuple[str, ...] = ("ODESteer", "StepODESteer", "RFFODESteer")


def ours_methods(methods_config: dict) -> list[str]:
    """The method ids of `methods:` whose steerer is of the ODESteer family."""
    return [m for m, spec in methods_config.items() if spec["steerer"] in OURS_FAMILY]


def get_metric(name: str) -> MetricSpec:
    known = {spec.name: spec for spec in all_metrics()}
    try:
        return known[name]
    except KeyError:
        raise ValueError(f"unknown table metric {name!r}; known metrics: {', '.join(known)}") from None


def scorer_raw_metrics(scorer: str) -> tuple[str, ...]:
    """The raw metric names the tables read from `scorer`'s score files (empty if unknown)."""
    return tuple(dict.fromkeys(m for spec in all_metrics() for sc, m in spec.sources if sc == scorer))


def metrics_for_sources(available: set[tuple[str, str]]) -> list[MetricSpec]:
    """Table metrics computable from the (scorer, raw metric) pairs present, in table order."""
    return [spec for spec in all_metrics() if all(src in available for src in spec.sources)]


def headline_order(task: str) -> tuple[str, ...]:
    """The task's headline metrics, best first (Task.headline; empty for an unknown task)."""
    from steerbench.tasks import available_tasks, get_task

    return tuple(get_task(task).headline) if task in available_tasks() else ()


def headline_metric(task: str, present: list[str] | set[str]) -> str | None:
    """The headline metric of `task` among `present` table metrics (None when none is).

    A task without a registered preference falls back to the first present metric in
    table order that may be a headline, so a new task still gets a summary column.
    """
    present = set(present)
    for name in headline_order(task):
        if name in present:
            return name
    for spec in all_metrics():
        if spec.name in present and spec.headline:
            return spec.name
    return None


def base_method(method: str) -> str:
    """The steerer a variant id belongs to: ``ODESteer-rk4`` -> ``ODESteer``.

    Variant ids are ``<paper method>`` or ``<paper method>-<suffix>``; RE-Control has a
    dash in its own name, so the longest paper name that prefixes the id wins.
    """
    best = ""
    for name in PAPER_METHOD_ORDER:
        if (method == name or method.startswith(name + "-")) and len(name) > len(best):
            best = name
    return best or method


def is_ours(method: str) -> bool:
    return base_method(method) in OURS_FAMILY


def order_methods(methods: list[str] | set[str], configured: list[str] | None = None) -> list[str]:
    """Sort method ids: the paper's order by base method, then config order, then by name.

    `configured` is the config's method order; variants of one paper method keep their
    config order among themselves.
    """
    configured = list(configured or [])
    paper_rank = {name: i for i, name in enumerate(PAPER_METHOD_ORDER)}
    cfg_rank = {name: i for i, name in enumerate(configured)}

    def key(m: str) -> tuple[int, int, int, str]:
        base = base_method(m)
        return (
            paper_rank.get(base, len(paper_rank)),
            0 if m == base else 1,  # the plain method before its variants
            cfg_rank.get(m, len(cfg_rank)),
            m,
        )

    return sorted(set(methods), key=key)
