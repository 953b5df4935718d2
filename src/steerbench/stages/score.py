"""Stages score_<scorer>: one score file per generation run, coverage checked.

Each function loads what its scorer needs, scores, checks coverage and only then writes
the file, so a scoring job below the configured coverage fails instead of leaving a
table-ready file behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from steerbench.integrity import check_expected
from steerbench.io import read_jsonl, write_jsonl
from steerbench.scoring import check_coverage, scorer_metrics
from steerbench.stages.common import load_steered_model, offline_hub, read_split, single_device

log = logging.getLogger(__name__)



def read_generations(path: str | Path) -> list[dict]:
    rows = check_expected(read_jsonl(path), path)
    if not rows:
        raise ValueError(f"{path}: no generations; delete it and rerun its generate job")
    return rows


def _finish(scorer: str, rows: list[dict], out_path: str | Path, min_coverage: float) -> dict:
    summary = check_coverage(rows, scorer_metrics(scorer), min_coverage)
    log.info("%s: %s", scorer, summary)
    write_jsonl(out_path, rows)
    return summary


def _records(paths: Sequence[str | Path]) -> list[dict]:
    return [r for p in paths for r in read_split(p)]


def score_quality_file(generations: str, model_dir: str, out_path: str, *, device: str = "auto",
                       batch_size: int = 8, max_length: int = 1024, min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.quality import score_quality

    # float32 even on a GPU: bf16 logits move per-text perplexities by several percent.
    lm = load_steered_model(model_dir, device, "float32")
    rows = score_quality(read_generations(generations), lm.model, lm.tokenizer, batch_size=batch_size, max_length=max_length)
    return _finish("quality", rows, out_path, min_coverage)


def similarity_references(records: list[dict]) -> tuple[list[dict], bool]:
    """TruthfulQA records as they are; UltraFeedback pairs as one correct (chosen) and one
    incorrect (rejected) reference, an offline stand-in for the reward model's preference.
    Returns the records and whether to add TruthfulQA's "I have no comment." reference."""
    if all("correct_answers" in r for r in records):
        return records, True
    if all("chosen" in r and "rejected" in r for r in records):
        refs = [{"id": r["id"], "question": r["prompt"], "correct_answers": [r["chosen"]],
                 "incorrect_answers": [r["rejected"]]} for r in records]
        return refs, False
    raise ValueError("the similarity scorer needs TruthfulQA answers or UltraFeedback chosen/rejected pairs")


def score_similarity_file(generations: str, split_files: Sequence[str], out_path: str, *, model: str | None = None,
                          device: str = "auto", min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.similarity import load_similarity_model, score_similarity

    embedder = load_similarity_model(model, device=single_device(device))
    refs, no_comment = similarity_references(_records(split_files))
    rows = score_similarity(read_generations(generations), refs, embedder, add_no_comment=no_comment)
    return _finish("similarity", rows, out_path, min_coverage)


def score_mc_file(model_dir: str, plan: Sequence[tuple[str, str]], layer: int, T: float, out_path: str, *,
                  device: str = "auto", dtype: str = "auto", batch_size: int = 8, limit: int | None = None,
                  min_coverage: float = 0.99, prompt_format: str = "auto") -> dict:
    """`plan`: (steerer file, eval split file) per fold; choices scored under that fold's steerer."""
    from steerbench.lm import PromptFormatter, loglikelihood
    from steerbench.scoring.multiple_choice import score_mc
    from steerbench.steerers import load_steerer

    lm = load_steered_model(model_dir, device, dtype)
    rows: list[dict] = []
    for steerer_path, split_path in plan:
        steerer = load_steerer(str(steerer_path))
        records = [r for r in read_split(split_path, limit) if r.get("mc1") or r.get("mc2")]
        if not records:
            raise ValueError(f"{split_path}: no multiple-choice data; give the task's source an `mc_path:` (or use the hub source)")

        def loglik(contexts, continuations, steerer=steerer):
            return loglikelihood(lm, contexts, continuations, steerer=steerer, layer=layer, T=T, batch_size=batch_size)

        rows += score_mc(records, loglik, PromptFormatter(lm, prompt_format))
    return _finish("mc", rows, out_path, min_coverage)


def score_judge_file(generations: str, split_files: Sequence[str], truth_dir: str, info_dir: str, out_path: str, *,
                     device: str = "auto", batch_size: int = 8, min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.judges import score_judge

    truth = load_steered_model(truth_dir, device, "auto")
    info = truth if Path(info_dir) == Path(truth_dir) else load_steered_model(info_dir, device, "auto")
    rows = score_judge(read_generations(generations), (truth.model, truth.tokenizer), (info.model, info.tokenizer),
                       records=_records(split_files), batch_size=batch_size)
    return _finish("judge", rows, out_path, min_coverage)


def load_reward_model(model_dir: str, device: str = "auto"):
    offline_hub()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev = single_device(device)
    dtype = torch.bfloat16 if str(dev).startswith("cuda") else torch.float32
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"{model_dir}: no reward model folder; run download_model or set scorers.reward.model")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype).to(dev).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def score_reward_file(generations: str, model_dir: str, out_path: str, *, device: str = "auto", batch_size: int = 4,
                      max_length: int = 2048, min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.reward import score_reward

    model, tokenizer = load_reward_model(model_dir, device)
    rows = score_reward(read_generations(generations), model, tokenizer, batch_size=batch_size, max_length=max_length)
    return _finish("reward", rows, out_path, min_coverage)


def score_perspective_file(generations: str, out_path: str, *, cfg: dict, min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.perspective import score_perspective

    kwargs = {"cache": cfg.get("cache", "resources/cache/perspective.sqlite"), "qps": cfg.get("qps", 1.0),
              "attributes": cfg.get("attributes", ["TOXICITY"])}
    if cfg.get("key_env"):
        kwargs["key_env"] = cfg["key_env"]
    if cfg.get("discovery_url"):
        kwargs["discovery_url"] = cfg["discovery_url"]
    Path(kwargs["cache"]).parent.mkdir(parents=True, exist_ok=True)
    rows = score_perspective(read_generations(generations), **kwargs)
    return _finish("perspective", rows, out_path, min_coverage)


def score_toxicity_open_file(generations: str, model_path: str, out_path: str, *, device: str = "auto",
                             min_coverage: float = 0.99) -> dict:
    from steerbench.scoring.toxicity_open import load_open_toxicity_scorer, score_toxicity_open

    offline_hub()
    classifier = load_open_toxicity_scorer(model_path, device=single_device(device))
    rows = score_toxicity_open(read_generations(generations), classifier)
    return _finish("toxicity_open", rows, out_path, min_coverage)
