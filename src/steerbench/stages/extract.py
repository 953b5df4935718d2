"""Stage extract_activations: last-token activations of a split's fit texts."""

from __future__ import annotations

from pathlib import Path

import torch
from steerbench.stages.common import check_finite, load_steered_model, read_split, save_tensors
from steerbench.tasks import get_task


def fit_activations(
    model_dir: str | Path,
    task: str,
    split_path: str | Path,
    layers: list[int],
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    limit: int | None = None,
    prompt_format: str = "auto",
    extras: bool = False,
) -> dict[int, dict[str, torch.Tensor]]:
    """{layer: {group: [n, d] float32}} of a split's fit texts in one forward pass: groups
    `pos` and `neg` (both required) and, with `extras`, the task's non-empty extra fit sets."""
    from steerbench.lm import PromptFormatter, extract_activations

    records = read_split(split_path, limit)
    lm = load_steered_model(model_dir, device, dtype)
    fmt = PromptFormatter(lm, prompt_format)
    t = get_task(task)
    pos_texts, neg_texts = t.fit_texts(records, fmt)
    if not pos_texts or not neg_texts:
        raise ValueError(
            f"{split_path}: {len(pos_texts)} positive and {len(neg_texts)} negative texts; "
            f"a steerer needs both classes"
        )
    groups = {"pos": pos_texts, "neg": neg_texts}
    if extras and hasattr(t, "fit_extra_texts"):
        groups.update({k: v for k, v in t.fit_extra_texts(records, fmt).items() if v})
    texts = [x for g in groups.values() for x in g]
    acts = extract_activations(lm, texts, list(layers), batch_size=batch_size)
    out: dict[int, dict[str, torch.Tensor]] = {}
    for layer in layers:
        a = acts[layer].to(torch.float32).contiguous()
        check_finite(a, f"activations at layer {layer} of {model_dir}")
        start, out[layer] = 0, {}
        for name, g in groups.items():
            out[layer][name] = a[start : start + len(g)].clone()
            start += len(g)
    return out


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
    tensors = fit_activations(model_dir, task, split_path, [layer], device=device, dtype=dtype,
                              batch_size=batch_size, limit=limit, prompt_format=prompt_format)[layer]
    save_tensors(tensors, out_path, {"model": str(model_dir), "task": task, "split": str(split_path), "layer": str(layer)})
    return {"n_pos": len(tensors["pos"]), "n_neg": len(tensors["neg"])}
