"""Steering hooks written out from the position policies' definitions, for one unpadded
prompt: the oracle the runtime's batched hooks are tested against."""

from __future__ import annotations

import contextlib
from typing import Iterator


def _policy_hook(steerer, T: float):
    """At the first forward (prefill) "last" edits the last position, "all" every position,
    "prompt" adds to every position the edit of the last one; later forwards (one new token
    each) are edited unless the policy is "prompt"."""
    state = {"prefill": True}

    def hook(module, args, output):
        h = (output[0] if isinstance(output, tuple) else output).clone()
        if state["prefill"]:
            state["prefill"] = False
            if steerer.positions == "last":
                h[:, -1] = steerer.steer(h[:, -1], T)
            elif steerer.positions == "all":
                h = steerer.steer(h, T)
            else:
                h = h + (steerer.steer(h[:, -1], T) - h[:, -1])[:, None, :]
        elif steerer.positions != "prompt":
            h = steerer.steer(h, T)
        return (h, *output[1:]) if isinstance(output, tuple) else h

    return hook


@contextlib.contextmanager
def oracle_steering(lm, steerers: dict, T: float) -> Iterator[None]:
    """{layer: steerer} hooked on `lm` while inside; removed on exit, also on errors."""
    handles = [lm.layers[layer].register_forward_hook(_policy_hook(s, T)) for layer, s in steerers.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
