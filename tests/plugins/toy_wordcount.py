"""A toy scorer, registered the documented way (a plugin module calling register_scorer):
the number of words of each generation. Lower is "better" only so the table has a direction."""

from steerbench.metrics import MetricSpec
from steerbench.scoring.registry import ScorerSpec, register_scorer


def score(job):
    return [{"id": r["id"], "n_words": float(len(r["generation"].split())), "error": None}
            for r in job.generation_rows()]


register_scorer(ScorerSpec(
    name="wordcount",
    score=score,
    raw_metrics=("n_words",),
    table_metrics=(MetricSpec("n_words", "Words", (("wordcount", "n_words"),), "mean", False),),
    column_rank=70,
    settings={},
    resources={"mem_mb": 1000, "runtime": 5},
))
