"""Unsteered token log-odds between a concept's positive and negative prompts.

M(z) = mean over positive prompts of log p(z | prompt) at the last non-pad token, minus
the same mean over negative prompts (the paper's measurement (4)). The paper relates it to
the curves: the tokens that keep rising with alpha are those with the highest M(z).
"""

from __future__ import annotations

from typing import Sequence

import torch

from steerbench.lm.batching import check_batch_size, encode, input_device, pad_left
from steerbench.lm.model import LM
from steerbench.strength.forward import last_logits


def mean_last_logprobs(lm: LM, texts: Sequence[str], batch_size: int = 16) -> torch.Tensor:
    """Mean over texts of the log-softmax at the last non-pad token: [V] float64."""
    check_batch_size(batch_size)
    ids = encode(lm.tokenizer, list(texts))
    device = input_device(lm.model)
    total = None
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            input_ids, mask = pad_left(ids[start : start + batch_size], lm.tokenizer.pad_token_id, device)
            logits = last_logits(lm.model, input_ids, mask)  # left padding: -1 is the last real token
            part = torch.log_softmax(logits.double(), -1).sum(0).cpu()
            total = part if total is None else total + part
    return total / len(ids)


def token_log_odds(lm: LM, positive: Sequence[str], negative: Sequence[str], batch_size: int = 16) -> torch.Tensor:
    """M(z) for every vocabulary token: [V] float64."""
    if not positive or not negative:
        raise ValueError("token log-odds need positive and negative prompts")
    return mean_last_logprobs(lm, positive, batch_size) - mean_last_logprobs(lm, negative, batch_size)


def log_odds_table(m: torch.Tensor, tokenizer, top: int = 50) -> list[dict]:
    """The `top` highest and lowest M(z) tokens as rows (end, rank, token_id, token, log_odds)."""
    rows = []
    for end, largest in (("high", True), ("low", False)):
        vals, idx = m.topk(min(top, m.numel()), largest=largest)
        for rank, (v, t) in enumerate(zip(vals.tolist(), idx.tolist())):
            rows.append({"end": end, "rank": rank, "token_id": t, "token": tokenizer.decode([t]), "log_odds": v})
    return rows
