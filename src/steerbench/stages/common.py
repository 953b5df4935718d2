"""Small pieces the stages share: reading split files and loading the steered model."""

from __future__ import annotations

from pathlib import Path

from steerbench.io import atomic_path, read_jsonl


def read_split(path: str | Path, limit: int | None = None) -> list[dict]:
    """Records of a split file; `limit` keeps the first N (split files are already shuffled)."""
    records = read_jsonl(path, unique=("id",))
    if not records:
        raise ValueError(f"{path}: the split is empty; check the task's source data and its `params` sizes")
    return records[:limit] if limit else records


def read_generations(path: str | Path) -> list[dict]:
    """A generations file's rows, checked against the count it was written with, so a
    file cut short (e.g. at a line boundary) never scores as full coverage."""
    from steerbench.integrity import check_expected

    rows = check_expected(read_jsonl(path), path)
    if not rows:
        raise ValueError(f"{path}: no generations; delete it and rerun its generate job")
    return rows


def single_device(device: str = "auto") -> str:
    """A concrete device for models that run on one device ('auto': the GPU if there is one)."""
    from steerbench.lm.model import resolve_device

    dev = resolve_device(device)
    return "cuda" if dev == "auto" else str(dev)  # "auto" = several GPUs: use the first


def load_steered_model(model_dir: str | Path, device: str = "auto", dtype: str = "auto"):
    from steerbench.hub import offline_hub
    from steerbench.lm import load_model

    offline_hub()

    return load_model(str(model_dir), dtype=dtype, device=device)


def check_finite(x, what: str) -> None:
    """One line naming how many rows of `x` are NaN/inf (half-precision overflow, bad weights)."""
    import torch

    bad_rows = (~torch.isfinite(x)).reshape(len(x), -1).any(dim=1)
    if bool(bad_rows.any()):
        raise ValueError(
            f"{int(bad_rows.sum())} of {len(x)} {what} are NaN/inf; "
            f"load the model in float32 (models.<name>.dtype: float32) or check its weights"
        )


def save_tensors(tensors: dict, out_path: str | Path, meta: dict[str, str]) -> None:
    """A safetensors file written whole or not at all."""
    from safetensors.torch import save_file

    with atomic_path(out_path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
