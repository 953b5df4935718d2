"""Stage score_<scorer>: one score file per generation run, coverage checked.

The scorer's spec (steerbench.scoring.registry) says what the job reads and how it
scores; this stage runs it, checks coverage on the spec's raw metrics and only then
writes the file, so a scoring job below the configured coverage fails instead of
leaving a table-ready file behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from steerbench.integrity import stamp_expected
from steerbench.io import write_jsonl
from steerbench.scoring import check_coverage
from steerbench.scoring.registry import ScoreJob, get_scorer

log = logging.getLogger(__name__)


def run_score(job: ScoreJob, out_path: str | Path, min_coverage: float = 0.99) -> dict:
    """Score `job` with its scorer, check coverage, write the score file; returns the coverage summary."""
    spec = get_scorer(job.scorer)
    rows = spec.score(job)
    summary = check_coverage(rows, spec.raw_metrics, min_coverage)
    log.info("%s: %s", job.scorer, summary)
    write_jsonl(out_path, stamp_expected(rows))
    return summary


def job_from_snakemake(sm: Any) -> ScoreJob:
    """The ScoreJob of a score_<scorer> rule (built by workflow/rules/score.smk)."""
    i, p, w = sm.input, sm.params, sm.wildcards
    models = {key: i[f"model_{key}"] for key in p.model_keys}
    return ScoreJob(
        scorer=p.scorer, task=w.task, layer=int(w.layer), T=float(w.T), seed=int(w.seed), cfg=dict(p.cfg),
        device=getattr(p, "device", "auto"),
        generations=i.get("generations"),
        eval_splits=list(i.get("data", [])),
        steerers=list(i.get("steerers", [])),
        steered_model=i.get("model"),
        dtype=getattr(p, "dtype", "auto"),
        prompt_format=getattr(p, "prompt_format", "auto"),
        limit=getattr(p, "limit", None),
        models=models,
    )


def score_from_snakemake(sm: Any) -> dict:
    return run_score(job_from_snakemake(sm), sm.output[0], sm.params.min_coverage)
