"""Stage fit_steerer: fit one steering method on one split's activations (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from safetensors import safe_open

from steerbench.steerers import get_steerer


def load_activations(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no activations file; run extract_activations first")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            tensors = {k: f.get_tensor(k) for k in ("pos", "neg") if k in keys}
    except Exception as e:  # safetensors raises its own error type for a corrupted header
        raise ValueError(f"{path}: not a readable safetensors file ({e}); delete it and rerun extract_activations") from None
    if set(tensors) != {"pos", "neg"}:
        raise ValueError(f"{path}: expected tensors 'pos' and 'neg', found {sorted(keys)}; delete it and rerun extract_activations")
    return tensors["pos"], tensors["neg"]


def fit_steerer(acts_path: str | Path, steerer: str, params: dict, seed: int, out_path: str | Path,
                extra_paths: Sequence[str | Path] = ()) -> None:
    """Fit `steerer` on one split's activations (plus the extra fit data files some methods
    need, see steerbench.stages.fit_data) and save it."""
    from steerbench.stages.fit_data import load_fit_extras

    pos, neg = load_activations(acts_path)
    extra = load_fit_extras(list(extra_paths)) if extra_paths else None
    get_steerer(steerer, **dict(params or {})).fit(pos, neg, extra, seed=seed).save(str(out_path))
