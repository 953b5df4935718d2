"""Next-token probability curves: p_alpha(z) at the last position of each context.

Each context is replicated along the batch with one alpha per row, so one forward pass
serves up to `batch_size` alphas. Per alpha we keep each context's `keep` most likely
tokens (ids and probabilities): the report's Delta p(z, alpha) = p_alpha(z) - p_0(z) reads
p_alpha(z) from there, and a token outside an alpha's kept set counts as 0, an error of at
most that alpha's smallest kept probability (reported as `floor`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from steerbench.lm.batching import check_batch_size, encode, input_device
from steerbench.lm.model import LM
from steerbench.strength.forward import last_logits
from steerbench.strength.hook import alpha_steering


def next_token_probs(lm: LM, context_ids: list[int], layer: int, steerer, alphas: Sequence[float], batch_size: int = 64) -> torch.Tensor:
    """Softmax at the last position for each alpha: [len(alphas), V] float32 (CPU)."""
    check_batch_size(batch_size)
    device = input_device(lm.model)
    out = []
    with torch.inference_mode():
        for start in range(0, len(alphas), batch_size):
            chunk = torch.tensor(list(alphas[start : start + batch_size]), dtype=torch.float32)
            ids = torch.tensor([context_ids], device=device).repeat(len(chunk), 1)
            mask = torch.ones_like(ids)
            with alpha_steering(lm.layer(layer), steerer, chunk, mask):
                logits = last_logits(lm.model, ids, mask)
            out.append(torch.softmax(logits.to(torch.float32), dim=-1).cpu())
    return torch.cat(out)


def curve_points(lm: LM, contexts: Sequence[str], layer: int, steerer, alphas: Sequence[float], keep: int = 1000, batch_size: int = 64) -> dict[float, dict]:
    """Per alpha: {"ids": [C, keep] int32, "probs": [C, keep] float32} over the contexts."""
    if not contexts:
        raise ValueError("next-token curves need at least one context")
    ids = encode(lm.tokenizer, list(contexts))
    per_ctx = [next_token_probs(lm, row, layer, steerer, alphas, batch_size) for row in ids]
    k = min(int(keep), per_ctx[0].shape[-1])
    tops = [p.topk(k, dim=-1) for p in per_ctx]
    return {
        a: {"ids": torch.stack([t.indices[i] for t in tops]).to(torch.int32), "probs": torch.stack([t.values[i] for t in tops])}
        for i, a in enumerate(alphas)
    }


def _lookup(point: dict, ctx: int, tokens: torch.Tensor) -> torch.Tensor:
    ids, probs = point["ids"][ctx].long(), point["probs"][ctx]
    hit = ids[None, :] == tokens[:, None]
    return (hit.to(probs.dtype) * probs[None, :]).sum(1)


def delta_p_table(points: dict[float, dict], tokenizer, top: int = 10) -> list[dict]:
    """Rows (context, end, token, alpha, p, delta_p, floor) for the `top` tokens at the
    largest alpha (end "max") and at the smallest (end "min"), as in the paper's code."""
    alphas = sorted(points)
    if 0.0 not in points:
        raise ValueError("Delta p needs alpha 0 in the grid")
    rows = []
    n_ctx = points[alphas[0]]["ids"].shape[0]
    for ctx in range(n_ctx):
        for end, a_end in (("max", alphas[-1]), ("min", alphas[0])):
            tokens = points[a_end]["ids"][ctx, :top].long()
            base = _lookup(points[0.0], ctx, tokens)
            for a in alphas:
                p = _lookup(points[a], ctx, tokens)
                floor = float(points[a]["probs"][ctx, -1])
                for j, t in enumerate(tokens.tolist()):
                    rows.append({
                        "context": ctx, "end": end, "rank": j, "token_id": t, "token": tokenizer.decode([t]),
                        "alpha": a, "p": float(p[j]), "delta_p": float(p[j] - base[j]), "floor": floor,
                    })
    return rows
