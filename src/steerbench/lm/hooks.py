"""Forward hooks on decoder layers: read the last token, stop early, steer.

Layer i is the OUTPUT of decoder layer i everywhere in steerbench (extraction and steering
hook the same tensor), which is the residual stream entering decoder layer i + 1.

Decoder layers return either a tensor or a tuple whose first item is the hidden
state, depending on family and transformers version; the helpers here hide that.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

import torch
from torch import Tensor, nn


class Steerer(Protocol):
    def steer(self, h: Tensor, T: float) -> Tensor: ...


class StopForward(Exception):
    """Raised by a capture hook once the deepest wanted layer ran: skips the rest of the net."""


def hidden_of(output) -> Tensor:
    return output[0] if isinstance(output, tuple) else output


def with_hidden(output, h: Tensor):
    """The layer's output with its hidden states replaced by `h` (tuple outputs keep the rest)."""
    return (h, *output[1:]) if isinstance(output, tuple) else h


@contextlib.contextmanager
def hooked(layer: nn.Module, hook) -> Iterator[None]:
    """`hook` registered as `layer`'s forward hook while inside; removed on exit, also on errors."""
    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def capture_layer(layer: nn.Module, sink: dict[str, Tensor]) -> Iterator[None]:
    """Store `layer`'s whole output [batch, seq, d] (as it is: device and dtype) in
    sink["h"] and stop the forward pass there: nothing after the layer runs."""

    def hook(module, args, output):
        sink["h"] = hidden_of(output)
        raise StopForward

    with hooked(layer, hook):
        yield


@contextlib.contextmanager
def capture_last_token(layers: nn.ModuleList, indices: list[int], sink: dict[int, Tensor]) -> Iterator[None]:
    """Store each layer's output at position -1 (float32 CPU) in `sink`; stop after the deepest.

    Left padding puts every row's last real token at -1.
    """
    deepest = max(indices)
    handles = []

    def make(index: int):
        def hook(module, args, output):
            sink[index] = hidden_of(output)[:, -1, :].to(device="cpu", dtype=torch.float32)
            if index == deepest:
                raise StopForward

        return hook

    try:
        for index in sorted(set(indices)):
            handles.append(layers[index].register_forward_hook(make(index)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _apply(steerer: Steerer, h: Tensor, T: float) -> Tensor:
    """Steer rows of h [N, d] in float32 and cast back; a broken steerer fails loudly."""
    out = steerer.steer(h.to(torch.float32), T)
    if not isinstance(out, Tensor) or out.shape != h.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"{type(steerer).__name__}.steer returned {shape} for input {tuple(h.shape)}; "
            f"steer(h, T) must return a tensor of the same shape"
        )
    return out.to(device=h.device, dtype=h.dtype)


# Where a steerer's edit applies (steerbench.steerers.base.POSITIONS documents each).
POSITIONS = ("last", "prompt", "all")

def positions_of(steerer: Steerer) -> str:
    """The steerer's edit-position policy (`positions` attribute, default "last"), checked."""
    positions = getattr(steerer, "positions", "last")
    if positions not in POSITIONS:
        raise ValueError(
            f"{type(steerer).__name__}.positions is {positions!r}; it must be one of {', '.join(POSITIONS)}"
        )
    return positions


def _edit(h: Tensor, steerer: Steerer, T: float, mask: Tensor | None, source: Tensor | None) -> Tensor:
    """h with the planned positions steered (h is modified in place and returned)."""
    if mask is None:
        h[:, -1, :] = _apply(steerer, h[:, -1, :], T)
        return h
    if mask.shape != h.shape[:2]:
        raise ValueError(f"steering mask {tuple(mask.shape)} does not match hidden state {tuple(h.shape[:2])}")
    if source is None:
        h[mask] = _apply(steerer, h[mask], T)
        return h
    rows = torch.arange(h.shape[0], device=h.device)
    at = h[rows, source.to(h.device)]
    # The shift is computed in float32 from the unedited source state, then added in h's dtype.
    shift = _apply(steerer, at, T).to(torch.float32) - at.to(torch.float32)
    h[mask] = (h[mask].to(torch.float32) + shift[mask.nonzero()[:, 0]]).to(h.dtype)
    return h


@contextlib.contextmanager
def steering(
    layer: nn.Module,
    steerer: Steerer,
    T: float,
    mask: Tensor | None = None,
    source: Tensor | None = None,
    *,
    plan=None,
) -> Iterator[None]:
    """Edit the layer's output on every forward pass while inside the block.

    mask None: the last position of each row (prefill: the last prompt token; decoding:
    the new token). mask [B, S] bool: exactly those positions (teacher-forced scoring), each
    from its own state, or with `source` [B] by the edit computed at each row's source
    position (the "prompt" policy). `plan(h) -> (mask, source) | None` decides per forward
    instead (generation: prefill and decoding steps differ); None leaves that forward alone.
    The hook is removed on exit, also when the forward raises.
    """

    def hook(module, args, output):
        h = hidden_of(output)
        where = (mask, source) if plan is None else plan(h)
        if where is None:
            return output
        if h.requires_grad:
            h = h.clone()
        return with_hidden(output, _edit(h, steerer, T, *where))

    with hooked(layer, hook):
        yield
