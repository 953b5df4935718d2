"""Next-token logits at the last position only.

A full forward materialises logits for every position: [rows, length, vocab] floats, 5 GB
for 64 five-shot MMLU prompts on a 49k vocabulary. Models that take `logits_to_keep`
(transformers' causal LMs) compute the LM head at the last position alone.
"""

from __future__ import annotations

import inspect

from torch import Tensor

from steerbench.lm.batching import forward_kwargs


def last_logits(model, input_ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """[rows, vocab] logits at position -1 (the last real token under left padding)."""
    kwargs = forward_kwargs(model, mask) if mask is not None else {"use_cache": False}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        kwargs["logits_to_keep"] = 1
    return model(input_ids=input_ids, **kwargs).logits[:, -1, :]
