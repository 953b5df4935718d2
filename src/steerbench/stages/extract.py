"""Stage extract_activations: last-token activations of a split's fit texts."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from steerbench.io import atomic_path
from steerbench.stages.common import load_steered_model, read_split
from steerbench.tasks import get_task


def extract_split(
    model_dir: str | Path,
    task: str,
    split_path: str | Path,
    layer: int,
    out_path: str | Path,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    limit: int | None = None,
    prompt_format: str = "auto",
) -> dict[str, int]:
    """Write `pos` [n, d] and `neg` [m, d] float32 activations of `layer` to `out_path`."""
    from steerbench.lm import PromptFormatter, extract_activations

    records = read_split(split_path, limit)
    lm = load_steered_model(model_dir, device, dtype)
    pos_texts, neg_texts = get_task(task).fit_texts(records, PromptFormatter(lm, prompt_format))
    if not pos_texts or not neg_texts:
        raise ValueError(
            f"{split_path}: {len(pos_texts)} positive and {len(neg_texts)} negative texts; "
            f"a steerer needs both classes"
        )
    acts = extract_activations(lm, pos_texts + neg_texts, [layer], batch_size=batch_size)[layer]
    acts = acts.to(torch.float32).contiguous()
    if not torch.isfinite(acts).all():
        bad = int((~torch.isfinite(acts)).any(dim=1).sum())
        raise ValueError(
            f"{bad} of {len(acts)} activations at layer {layer} of {model_dir} are NaN/inf; "
            f"load the model in float32 (models.<name>.dtype: float32) or check its weights"
        )
    tensors = {"pos": acts[: len(pos_texts)].clone(), "neg": acts[len(pos_texts) :].clone()}
    meta = {"model": str(model_dir), "task": task, "split": str(split_path), "layer": str(layer)}
    with atomic_path(out_path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return {"n_pos": len(pos_texts), "n_neg": len(neg_texts)}
