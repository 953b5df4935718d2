"""The scorer registry: one `ScorerSpec` per scorer, the one place every fact about it lives.

A scorer module in this package declares ``SPEC = ScorerSpec(...)`` and is found by
name (``steerbench.scoring.<module>``); a scorer outside the package calls
`register_scorer(spec)` in a module named under the config's ``plugins:`` key
(steerbench.plugins). From the
spec the workflow builds the rule ``score_<name>`` (inputs, params, resources),
validates and fills ``scorers.<name>`` in the config, checks which tasks may use it,
and the tables learn its columns. See docs/architecture.md ("Adding a scorer").
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from steerbench.metrics import MetricSpec

# What a score job may read, besides the settings: `generations` (the run's generations
# file), `eval_splits` (the task's eval split files, one per fold), `steered_model` (the
# steered model's folder, with its dtype and prompt format) and `steerers` (the fitted
# steerer of each fold). Scorer models are named by `model_keys`.
INPUTS = ("generations", "eval_splits", "steered_model", "steerers")


@dataclass
class ScoreJob:
    """Everything one score job gets: file paths, the run's coordinates and the settings
    (``cfg``: ``scorers.<name>`` with the spec's defaults filled in)."""

    scorer: str
    task: str
    layer: int
    T: float
    seed: int
    cfg: dict[str, Any]
    device: str = "auto"
    generations: str | None = None
    eval_splits: list[str] = field(default_factory=list)
    steerers: list[str] = field(default_factory=list)
    steered_model: str | None = None
    dtype: str = "auto"
    prompt_format: str = "auto"
    limit: int | None = None  # the task's max_eval
    models: dict[str, str] = field(default_factory=dict)  # model key -> local path

    def generation_rows(self) -> list[dict]:
        """The rows of the generations file that this scorer reads (Task.scored_rows)."""
        from steerbench.stages.common import read_generations
        from steerbench.tasks import get_task

        return get_task(self.task).scored_rows(self.scorer, read_generations(self.generations))

    def records(self, limit: int | None = None) -> list[dict]:
        """The records of every eval split, folds in order."""
        from steerbench.stages.common import read_split

        return [r for p in self.eval_splits for r in read_split(p, limit)]


@dataclass(frozen=True)
class ScorerSpec:
    """One scorer.

    name: the config and path name (``results/<run>/scores/<name>/...``, rule ``score_<name>``).
    score: ``score(job: ScoreJob) -> rows``, one row {"id", <raw metric>..., "error"} per item.
    raw_metrics: the per-item metrics each row holds; coverage is checked on these.
    table_metrics: the table columns made from them (direction, aggregate, headline role).
    column_rank: where its columns go in a table (lower first; quality metrics come last).
    settings: JSON schema of each key of ``scorers.<name>``; a ``default`` there is the one default.
    model_keys: settings that name a scorer model (a ``models`` key, hub id or local path);
        they become rule inputs, required unless ``default_model`` gives a file to use instead.
    default_model: the file used when the (single) model key is unset, made by another rule;
        a path under the run's results root (results/<run>/).
    tasks: the task names or task kinds (``Task.kind``) it applies to; None: every task.
    inputs: which of INPUTS the job reads.
    one_seed: deterministic given the steerer: only the first seed is scored.
    resources: Snakemake resources of its rule (mem_mb, runtime, gpu).
    rate_limit: a rate-limited API resource (e.g. "perspective_api"): jobs take one unit of
        it, so they run one at a time, and get no threads or device.
    """

    name: str
    score: Callable[[ScoreJob], list[dict]]
    raw_metrics: tuple[str, ...]
    table_metrics: tuple[MetricSpec, ...] = ()
    column_rank: int = 50
    settings: dict[str, dict] = field(default_factory=dict)
    model_keys: tuple[str, ...] = ()
    default_model: str | None = None
    tasks: tuple[str, ...] | None = None
    inputs: tuple[str, ...] = ("generations",)
    one_seed: bool = False
    resources: dict[str, int] = field(default_factory=lambda: {"mem_mb": 4000, "runtime": 30})
    rate_limit: str | None = None

    def __post_init__(self) -> None:
        unknown = [i for i in self.inputs if i not in INPUTS]
        if unknown:
            raise ValueError(f"scorer {self.name!r}: unknown inputs {unknown}; valid: {list(INPUTS)}")
        missing = [k for k in self.model_keys if k not in self.settings]
        if missing:
            raise ValueError(f"scorer {self.name!r}: model_keys {missing} are not in its settings")

    def defaults(self) -> dict[str, Any]:
        return {k: s["default"] for k, s in self.settings.items() if "default" in s}

    def applies_to(self, task: str, kind: str | None) -> bool:
        return self.tasks is None or task in self.tasks or (kind is not None and kind in self.tasks)

    @property
    def gpu(self) -> bool:
        return bool(self.resources.get("gpu"))


_REGISTRY: dict[str, ScorerSpec] = {}
_SCANNED = False


def register_scorer(spec: ScorerSpec) -> ScorerSpec:
    """Add a scorer (from a plugin module); a second spec under one name is an error."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old is not spec:
        raise ValueError(f"scorer {spec.name!r} is registered twice ({old.score.__module__}, {spec.score.__module__})")
    _REGISTRY[spec.name] = spec
    return spec


def _scan() -> None:
    """Import every module of this package and register its SPEC (once)."""
    global _SCANNED
    if _SCANNED:
        return
    _SCANNED = True
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "registry":
            continue
        module = importlib.import_module(f"steerbench.scoring.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, ScorerSpec):
            register_scorer(spec)


def scorers() -> dict[str, ScorerSpec]:
    """name -> spec of every registered scorer (this package's and the plugins'), in column order."""
    from steerbench.plugins import load_plugins

    _scan()
    load_plugins()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].column_rank, kv[0])))


def get_scorer(name: str) -> ScorerSpec:
    known = scorers()
    try:
        return known[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; known scorers: {', '.join(known)}") from None
