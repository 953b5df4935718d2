"""Batching shared by extraction, generation and scoring: length sorting, left padding,
position ids, OOM back-off, progress bars.

torch is imported inside the functions that need it: the scorer registry imports this
module (through scoring._util) when Snakemake parses the workflow, which needs no torch."""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    import torch
    from torch import Tensor

from steerbench.progress import Progress

log = logging.getLogger(__name__)


def progress(total: int, desc: str, unit: str = "it") -> Progress:
    """A tqdm bar on a terminal, progress lines in a log (steerbench.progress)."""
    return Progress(total, desc, unit)


def check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def check_texts(texts: Sequence[str], what: str) -> None:
    if isinstance(texts, str):
        raise ValueError(f"{what} must be a list of strings, not one string; wrap it in a list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{what}[{i}] is {type(t).__name__}, expected str")


def longest_first(lengths: Sequence[int]) -> list[int]:
    """Indices sorted by decreasing length: little padding per batch, and an OOM shows up
    on the first batch rather than after an hour."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def pad_left(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """input_ids and attention_mask [B, S] with padding on the left."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        if len(r):
            ids[b, width - len(r) :] = torch.as_tensor(list(r), dtype=torch.long)
            mask[b, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


def pad_right(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """input_ids and attention_mask [B, S] with padding on the right."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[b, : len(r)] = 1
    return ids.to(device), mask.to(device)


def position_ids(mask: Tensor) -> Tensor:
    # Positions count real tokens only, so a left-padded row sees the same positions as
    # the unpadded text (matters for learned absolute positions, e.g. GPT-2).
    return (mask.cumsum(-1) - 1).clamp(min=0)


def forward_kwargs(model: torch.nn.Module, mask: Tensor) -> dict:
    kwargs = {"attention_mask": mask, "use_cache": False}
    if "position_ids" in inspect.signature(model.forward).parameters:
        kwargs["position_ids"] = position_ids(mask)
    return kwargs


def input_device(model: torch.nn.Module) -> torch.device:
    """Where input ids go: the embedding's device (differs from parameters()[0] under device_map)."""
    emb = model.get_input_embeddings()
    return emb.weight.device if emb is not None else next(model.parameters()).device


def run_adaptive(order: list[int], batch_size: int, step: Callable[[list[int], int], None], desc: str, unit: str = "text") -> None:
    """Call step(indices, batch_number) over `order` in batches; on CUDA OOM halve the batch
    size for the rest of the run and retry the failed batch."""
    import torch

    bar = progress(len(order), desc, unit)
    pos, number, size = 0, 0, batch_size
    try:
        while pos < len(order):
            idx = order[pos : pos + size]
            try:
                step(idx, number)
            except torch.OutOfMemoryError:
                if size == 1:
                    raise torch.OutOfMemoryError(
                        f"{desc}: out of GPU memory with batch size 1; use a smaller model, dtype "
                        f"bfloat16, shorter inputs or a bigger GPU"
                    ) from None
                size = max(1, size // 2)
                torch.cuda.empty_cache()
                log.warning("%s: CUDA out of memory, retrying with batch size %d", desc, size)
                continue
            pos += len(idx)
            number += 1
            bar.update(len(idx))
    finally:
        bar.close()


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids per text. Special tokens (BOS) are added unless the text already starts
    with the BOS string (chat templates often write it themselves: no double BOS)."""
    bos = getattr(tokenizer, "bos_token", None)
    plain = [i for i, t in enumerate(texts) if not (bos and t.startswith(bos))]
    templated = [i for i, t in enumerate(texts) if bos and t.startswith(bos)]
    ids: list[list[int]] = [[] for _ in texts]
    for group, special in ((plain, True), (templated, False)):
        if group:
            rows = tokenizer([texts[i] for i in group], add_special_tokens=special)["input_ids"]
            for i, row in zip(group, rows):
                ids[i] = list(row)
    return ids
