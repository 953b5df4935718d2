"""The alpha-batched steering hook: one forward pass serves many strengths.

Each batch row carries its own alpha. The hook edits the layer's output at every
non-pad position of the row (the strength paper adds alpha * v_l to the block output
at every position). For a constant-vector steerer (or a bare vector) that is one fused
add; any other steerer gets `steer(h, T)` with T = alpha, once per distinct alpha.
Alpha 0 is the unsteered model: those rows are left untouched.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from steerbench.lm.hooks import hidden_of, hooked, with_hidden
from steerbench.steerers.vector import VectorSteerer


def direction(steerer) -> Tensor | None:
    """The vector v when steering is h + T * v, else None."""
    if isinstance(steerer, Tensor):
        return steerer
    if isinstance(steerer, VectorSteerer):
        return steerer.vector
    return None


def _steer_rows(steerer, h: Tensor, T: float) -> Tensor:
    out = steerer.steer(h.to(torch.float32), T)
    if not isinstance(out, Tensor) or out.shape != h.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{type(steerer).__name__}.steer returned {shape} for input {tuple(h.shape)}; it must keep the shape")
    return out.to(device=h.device, dtype=h.dtype)


def steer_hidden(h: Tensor, steerer, alphas: Tensor, positions: Tensor) -> Tensor:
    """h [B, S, d] steered row by row: row b by alphas[b] at positions[b] (bool [B, S])."""
    v = direction(steerer)
    if v is not None:
        scale = alphas.to(device=h.device, dtype=torch.float32)[:, None, None] * positions[..., None].to(torch.float32)
        return (h.to(torch.float32) + scale * v.to(device=h.device, dtype=torch.float32)).to(h.dtype)
    h = h.clone()
    for a in torch.unique(alphas).tolist():
        if a == 0.0:
            continue
        where = positions & (alphas == a).to(positions.device)[:, None]
        if where.any():
            h[where] = _steer_rows(steerer, h[where], float(a))
    return h


@contextlib.contextmanager
def alpha_steering(layer: nn.Module, steerer, alphas: Tensor, mask: Tensor | None = None) -> Iterator[None]:
    """Steer `layer`'s output with one alpha per batch row while inside the block.

    `steerer`: a vector [d] (adds alpha * v) or any object with `steer(h, T)`.
    `mask` [B, S] (1 = real token) marks the positions to edit on the forward that has the
    prompt's width; a narrower forward (a decoding step with the KV cache) holds only new
    tokens, all of them edited. The hook is removed on exit, also when the forward raises.
    """
    alphas = torch.as_tensor(alphas, dtype=torch.float32).flatten()
    if direction(steerer) is None and not hasattr(steerer, "steer"):
        raise ValueError(f"{type(steerer).__name__} is neither a steering vector nor a steerer with .steer(h, T)")

    def hook(module, args, output):
        h = hidden_of(output)
        if h.shape[0] != alphas.numel():
            raise ValueError(f"alpha-batched steering got a batch of {h.shape[0]} rows but {alphas.numel()} alphas")
        if mask is not None and mask.shape[1] == h.shape[1]:
            positions = mask.to(device=h.device).bool()
        else:
            positions = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
        return with_hidden(output, steer_hidden(h, steerer, alphas.to(h.device), positions))

    with hooked(layer, hook):
        yield
