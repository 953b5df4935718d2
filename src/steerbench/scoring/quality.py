"""Text quality: perplexity under a reference LM (gpt2-xl in the paper) and Dist-1/2/3.

Both as in the paper's evaluation code. Perplexity is that of the generation alone,
tokenized as the reference LM's tokenizer does by default (gpt2-xl adds no BOS, so the
first token is context and the rest are scored). Dist-n is per generation: distinct
whitespace n-grams over all its n-grams, 0 for a text with fewer than n words.
"""

from __future__ import annotations

import math
from typing import Sequence

from steerbench.metrics import MetricSpec

from ._util import check_batch_size, check_rows, model_device, no_grad, pad_id, pad_right, progress
from .registry import ScorerSpec


def distinct_n(text: str, n: int) -> float:
    """|distinct n-grams| / |n-grams| of one text; 0.0 when it has fewer than n words."""
    if n < 1:
        raise ValueError(f"distinct_n: n must be >= 1, got {n}")
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@no_grad
def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int = 1024) -> list[float | None]:
    """exp(mean NLL of tokens 2..n) of each text under `model`, tokenized with the
    tokenizer's default special tokens; None where no token can be scored (fewer than 2
    tokens). Texts longer than max_length tokens are truncated."""
    import torch.nn.functional as F

    check_batch_size(batch_size)
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    enc = tokenizer(list(texts))["input_ids"] if texts else []
    ids = [list(r)[:max_length] for r in enc]
    out: list[float | None] = [None] * len(ids)
    todo = [i for i, r in enumerate(ids) if len(r) >= 2]
    todo.sort(key=lambda i: -len(ids[i]))  # little padding per batch; OOM shows up first
    device = model_device(model)
    pid = pad_id(tokenizer)
    bar = progress(len(todo), "perplexity", "text")
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        input_ids, mask = pad_right([ids[i] for i in idx], pid, device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:], reduction="none")
        m = mask[:, 1:].float()
        mean_nll = (nll * m).sum(1) / m.sum(1)
        for i, v in zip(idx, mean_nll.tolist()):
            out[i] = math.exp(v) if v < 700 else math.inf  # inf is reported as an error row
        bar.update(len(idx))
    bar.close()
    return out


def score_quality(rows: Sequence[dict], model, tokenizer, batch_size: int = 8, max_length: int = 1024) -> list[dict]:
    """One row {"id", "ppl", "dist1", "dist2", "dist3", "error"} per generation row."""
    check_rows(rows, ("id", "generation"), "score_quality")
    texts = [r["generation"] for r in rows]
    ppls = perplexity(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    result = []
    for r, ppl in zip(rows, ppls):
        row = {"id": r["id"], "ppl": ppl}
        for n in (1, 2, 3):
            row[f"dist{n}"] = distinct_n(r["generation"], n)
        errors = []
        if ppl is not None and not math.isfinite(ppl):
            row["ppl"] = None
            errors.append("perplexity overflowed (mean token NLL > 700)")
        elif ppl is None:
            errors.append("generation has fewer than 2 tokens: perplexity undefined")
        row["error"] = "; ".join(errors) or None
        result.append(row)
    return result


def _score_job(job) -> list[dict]:
    from steerbench.stages.common import load_steered_model

    # float32 even on a GPU: bf16 logits move per-text perplexities by several percent.
    lm = load_steered_model(job.models["model"], job.device, "float32")
    return score_quality(job.generation_rows(), lm.model, lm.tokenizer, batch_size=job.cfg["batch_size"],
                         max_length=job.cfg["max_length"])


def _quality_metric(name: str, label: str, higher: bool) -> MetricSpec:
    return MetricSpec(name, label, (("quality", name),), "mean", higher, headline=False)


SPEC = ScorerSpec(
    name="quality",
    score=_score_job,
    raw_metrics=("ppl", "dist1", "dist2", "dist3"),
    table_metrics=(_quality_metric("ppl", "PPL", False), _quality_metric("dist1", "Dist-1", True),
                   _quality_metric("dist2", "Dist-2", True), _quality_metric("dist3", "Dist-3", True)),
    column_rank=90,
    settings={
        "model": {"$ref": "#/$defs/model_ref", "description": "reference LM of the perplexity (gpt2-xl in the paper)"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 8},
        "max_length": {"type": "integer", "minimum": 8, "default": 1024},
    },
    model_keys=("model",),
    resources={"mem_mb": 16000, "runtime": 60, "gpu": 1},
)
