"""Parse-time checks of the `select_T:` config block (strength selection, docs/selection.md).

The schema checks the keys and types; this checks what depends on the rest of the config:
the metric a task's scorers produce, the cost metric a budget needs, the reference method.
Each error names the key and the fix in one line.
"""

from __future__ import annotations

from steerbench.config_checks import ConfigError


def task_metrics(config: dict, task: str) -> list[str]:
    """Table metrics the scorers of `tasks.<task>.scorers` produce, in table order."""
    from steerbench.metrics import metrics_for_sources
    from steerbench.scoring.registry import get_scorer

    sources = {(s, raw) for s in config["tasks"][task]["scorers"] for raw in get_scorer(s).raw_metrics}
    return [m.name for m in metrics_for_sources(sources)]


def selection_metric(config: dict, task: str) -> str | None:
    """The metric `select_T.metric` names for `task` (a name, or a mapping task -> name); None: the headline."""
    metric = config["select_T"].get("metric")
    return metric.get(task) if isinstance(metric, dict) else metric


def check_select_config(config: dict) -> None:
    """Raise ConfigError for a select_T block that cannot work with this config."""
    sel = config["select_T"]
    rule, budget, cost = sel["rule"], sel.get("budget"), sel["cost_metric"]
    from steerbench.tasks.validation import validation_plan

    for task in config["tasks"]:
        try:
            validation_plan(task)
        except ValueError as err:
            raise ConfigError(f"select_T: {err}") from None
    if isinstance(sel.get("metric"), dict):
        unknown = sorted(set(sel["metric"]) - set(config["tasks"]))
        if unknown:
            raise ConfigError(f"select_T.metric: {unknown} are not configured tasks; name tasks of {', '.join(config['tasks'])}")
    if rule == "budget" and budget is None:
        raise ConfigError(f"select_T.budget: rule 'budget' needs a budget (the largest rise of {cost} over the "
                          f"unsteered baseline allowed), e.g. `budget: 2.0`")
    if rule == "best" and budget is not None:
        raise ConfigError("select_T.budget: only rule 'budget' uses a budget; remove it or set `rule: budget`")
    for task in config["tasks"]:
        produced = task_metrics(config, task)
        metric = selection_metric(config, task)
        if rule == "best" and metric is not None and metric not in produced:
            raise ConfigError(
                f"select_T.metric: {metric!r} is not produced by tasks.{task}.scorers "
                f"({', '.join(config['tasks'][task]['scorers'])}); choose one of {', '.join(produced)}, "
                f"or leave it unset for the task's headline metric"
            )
        if rule == "budget" and cost not in produced:
            raise ConfigError(
                f"select_T.cost_metric: the budget's cost {cost!r} is not produced by tasks.{task}.scorers "
                f"({', '.join(config['tasks'][task]['scorers'])}); add the scorer that makes it (ppl: quality) "
                f"or set select_T.cost_metric to one of {', '.join(produced)}"
            )
    reference = config["reference"]  # filled in by validate_config (common.smk) before this runs
    if rule == "budget" and reference not in config["methods"]:
        raise ConfigError(f"select_T: rule 'budget' measures the cost against the reference method {reference!r}; "
                          f"add it to `methods` (e.g. NoSteer: {{steerer: NoSteer, T: [0]}})")
