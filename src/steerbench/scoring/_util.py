"""Small helpers shared by the scorers: progress bars, input checks, model device."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch

# The scorers batch token rows and show progress the way the LM runtime does: one
# implementation of each.
from steerbench.lm.batching import check_batch_size, pad_left, pad_right, progress  # noqa: F401  (re-exported)


def check_rows(rows: Sequence[dict], keys: Sequence[str], what: str) -> None:
    if isinstance(rows, dict):
        raise ValueError(f"{what}: expected a list of rows, got one dict; wrap it in a list")
    for i, row in enumerate(rows):
        missing = [k for k in keys if k not in row]
        if missing:
            raise ValueError(
                f"{what}: row {i} (id {row.get('id')!r}) lacks {missing}; expected generation rows "
                f"with {list(keys)} (see docs/architecture.md, 'Files between rules')"
            )
        if "generation" in keys and not isinstance(row["generation"], str):
            raise ValueError(f"{what}: row {i} (id {row.get('id')!r}) has a non-string generation")


def no_grad(fn):
    """`fn` under torch.no_grad(), torch imported on the call: the scorer modules are
    imported when Snakemake parses the workflow (steerbench.scoring.registry), which
    should not pay for importing torch."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


def model_device(model: torch.nn.Module) -> torch.device:
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return emb.weight.device if emb is not None else next(model.parameters()).device


def pad_id(tokenizer) -> int:
    for cand in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if cand is not None:
            return int(cand)
    return 0
