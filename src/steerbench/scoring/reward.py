"""Reward-model scores: any Hugging Face sequence-classification reward model
(Skywork-Reward-V2-Llama-3.1-8B in the paper), on the chat-formatted (prompt, response).

The conversation is rendered with the reward model's own chat template (which already
holds its BOS, so none is added again) and truncated to max_length tokens from the left:
the response and its end-of-turn token, which the reward head reads, are kept.
"""

from __future__ import annotations

import logging
from typing import Sequence

from steerbench.metrics import MetricSpec

from ._util import check_batch_size, check_rows, model_device, no_grad, pad_id, pad_right, progress
from .registry import ScorerSpec

log = logging.getLogger(__name__)


def render_conversation(tokenizer, prompt: str, response: str) -> str:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    # No template (a base-model RM): a plain transcript, BOS added by the tokenizer.
    bos = tokenizer.bos_token or ""
    return f"{bos}User: {prompt}\n\nAssistant: {response}"


@no_grad
def reward_scores(model, tokenizer, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 4,
                  max_length: int = 2048) -> list[float]:
    """The reward head's scalar (logit 0) for each (prompt, response)."""
    check_batch_size(batch_size)
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if getattr(model.config, "pad_token_id", None) is None:
        # Sequence-classification heads find each row's last token through pad_token_id.
        model.config.pad_token_id = pad_id(tokenizer)
    texts = [render_conversation(tokenizer, p, r) for p, r in zip(prompts, responses)]
    ids = [list(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    if any(x and x[-1] == model.config.pad_token_id for x in ids):
        # The head reads the last token that is not the pad id: it would skip the end of turn.
        raise ValueError(
            f"reward model: its pad token id {model.config.pad_token_id} ends the rendered "
            f"conversations, so the score would be read one token early; give the model a "
            f"pad token distinct from its end-of-turn token (config.pad_token_id)"
        )
    n_cut = sum(len(x) > max_length for x in ids)
    if n_cut:
        log.warning("reward: %d of %d conversations truncated to their last %d tokens", n_cut, len(ids), max_length)
    ids = [x[-max_length:] for x in ids]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = [0.0] * len(ids)
    device = model_device(model)
    bar = progress(len(ids), "reward", "text")
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        input_ids, mask = pad_right([ids[i] for i in idx], model.config.pad_token_id, device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        for i, v in zip(idx, logits[:, 0].tolist()):
            out[i] = v
        bar.update(len(idx))
    bar.close()
    return out


def score_reward(rows: Sequence[dict], model, tokenizer, batch_size: int = 4, max_length: int = 2048) -> list[dict]:
    """One row {"id", "reward", "error"} per generation row (prompt = the raw user prompt)."""
    check_rows(rows, ("id", "prompt", "generation"), "score_reward")
    values = reward_scores(model, tokenizer, [r["prompt"] for r in rows], [r["generation"] for r in rows],
                           batch_size=batch_size, max_length=max_length)
    out = []
    for r, v in zip(rows, values):
        ok = v == v and abs(v) != float("inf")
        out.append({"id": r["id"], "reward": v if ok else None, "error": None if ok else "reward model returned a non-finite score"})
    return out


def load_reward_model(model_dir: str, device: str = "auto"):
    from pathlib import Path

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from steerbench.stages.common import single_device

    dev = single_device(device)
    dtype = torch.bfloat16 if str(dev).startswith("cuda") else torch.float32
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"{model_dir}: no reward model folder; run download_model or set scorers.reward.model")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype).to(dev).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def _score_job(job) -> list[dict]:
    model, tokenizer = load_reward_model(job.models["model"], job.device)
    return score_reward(job.generation_rows(), model, tokenizer, batch_size=job.cfg["batch_size"],
                        max_length=job.cfg["max_length"])


def _reward_metric(name: str, label: str, aggregate) -> MetricSpec:
    # A reward can be negative or near zero: its gain is a difference, not a ratio.
    return MetricSpec(name, label, (("reward", "reward"),), aggregate, True, ratio_scale=aggregate == "win_rate")


SPEC = ScorerSpec(
    name="reward",
    score=_score_job,
    raw_metrics=("reward",),
    table_metrics=(_reward_metric("reward", "RM mean", "mean"), _reward_metric("reward_p90", "RM P90", "p90"),
                   _reward_metric("win_rate", "Win-rate vs NoSteer", "win_rate")),
    column_rank=40,
    settings={
        "model": {"$ref": "#/$defs/model_ref"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 4},
        "max_length": {"type": "integer", "minimum": 8, "default": 2048},
    },
    model_keys=("model",),
    resources={"mem_mb": 32000, "runtime": 120, "gpu": 1},
)
