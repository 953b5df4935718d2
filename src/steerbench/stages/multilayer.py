"""Multi-layer methods (`methods.<id>.layers: [...]`): one extraction pass over every layer
a method steers, one fitted steerer per layer, and loading them back as {layer: steerer}
for `steerbench.lm.generate(steerer={layer: steerer})`.

Files:
    activations  results/<run>/activations/<model>/<task>/layers<l1>_<l2>.../<split>.safetensors
                 tensors pos_L<l>, neg_L<l> (and <extra>_L<l> for each named extra fit set
                 the task gives, e.g. the refusal task's borderline prompts)
    steerers     results/<run>/steerers/<model>/<task>/L<l1>/<method>/<split>.multi/L<l>.safetensors (+ .json)
                 one folder per (method, fit split), written whole or not at all

Per-layer hyperparameters: a `params` value that is a mapping {layer: value} gives each
steered layer its own value (AlphaSteer's null-space `ratio`); a plain value applies to
every layer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import torch

from safetensors import safe_open

from steerbench.io import atomic_dir
from steerbench.stages.common import save_tensors

MULTI_SUFFIX = ".multi"


def layer_set_tag(layers: Sequence[int]) -> str:
    """`[7, 8, 10]` -> "7_8_10": the path component of a layer set's activations."""
    return "_".join(str(int(layer)) for layer in layers)


def params_for_layer(params: dict, layer: int) -> dict:
    """The hyperparameters of one steered layer: per-layer mappings resolved to their value."""
    out = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            by_layer = {int(k): v for k, v in value.items()}
            if int(layer) not in by_layer:
                raise ValueError(f"params.{key}: no value for layer {layer} (given for {sorted(by_layer)}); "
                                 f"give one value per steered layer, or a single value for all")
            out[key] = by_layer[int(layer)]
        else:
            out[key] = value
    return out


def extract_split_layers(
    model_dir: str | Path,
    task: str,
    split_path: str | Path,
    layers: Sequence[int],
    out_path: str | Path,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    limit: int | None = None,
    prompt_format: str = "auto",
) -> dict[str, int]:
    """One forward pass over the fit texts (and the task's extra fit sets), every layer kept."""
    from steerbench.param_checks import model_depth
    from steerbench.stages.extract import fit_activations

    layers = [int(layer) for layer in layers]
    if not layers or len(set(layers)) != len(layers):
        raise ValueError(f"layers {layers}: need a non-empty list of distinct layers")
    depth = model_depth(model_dir)
    if depth is not None and not all(0 <= layer < depth for layer in layers):
        raise ValueError(f"layers {layers}: {model_dir} has {depth} decoder layers (valid: 0..{depth - 1}); "
                         f"fix methods.<id>.layers")
    acts = fit_activations(model_dir, task, split_path, layers, device=device, dtype=dtype, batch_size=batch_size,
                           limit=limit, prompt_format=prompt_format, extras=True)
    tensors = {f"{name}_L{layer}": a for layer in layers for name, a in acts[layer].items()}
    save_tensors(tensors, out_path, {"model": str(model_dir), "task": task, "split": str(split_path),
                                     "layers": layer_set_tag(layers)})
    return {name: len(a) for name, a in acts[layers[0]].items()}


def load_layer_activations(path: str | Path, layer: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(pos, neg, extras) of one layer from a multi-layer activations file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no activations file; run extract_activations_layers first")
    suffix = f"_L{int(layer)}"
    with safe_open(str(path), framework="pt") as f:
        found = {k[: -len(suffix)]: f.get_tensor(k) for k in f.keys() if k.endswith(suffix)}
    if "pos" not in found or "neg" not in found:
        raise ValueError(f"{path}: no pos/neg activations for layer {layer}; delete it and rerun its extraction")
    return found.pop("pos"), found.pop("neg"), found


def fit_steerer_layers(acts_path: str | Path, steerer: str, params: dict, layers: Sequence[int], seed: int,
                       out_dir: str | Path) -> list[Path]:
    """One steerer per layer, each from its own layer's activations, into `out_dir` (atomic)."""
    from steerbench.steerers import get_steerer

    written = []
    with atomic_dir(out_dir) as tmp:
        for layer in layers:
            pos, neg, extras = load_layer_activations(acts_path, layer)
            s = get_steerer(steerer, **params_for_layer(params, layer)).fit(pos, neg, extras or None, seed=seed)
            s.save(str(tmp / f"L{int(layer)}.safetensors"))
            written.append(Path(out_dir) / f"L{int(layer)}.safetensors")
    return written


def is_multi(path: str | Path) -> bool:
    return str(path).endswith(MULTI_SUFFIX)


def load_steerers(path: str | Path) -> dict[int, Any]:
    """{layer: steerer} of a `<split>.multi` folder written by fit_steerer_layers."""
    from steerbench.steerers import load_steerer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder; fit the method first (rule fit_steerer_layers)")
    out = {}
    for f in sorted(path.glob("L*.safetensors")):
        m = re.fullmatch(r"L(\d+)\.safetensors", f.name)
        if m:
            out[int(m.group(1))] = load_steerer(f)
    if not out:
        raise ValueError(f"{path}: no L<layer>.safetensors steerers inside; delete it and refit")
    return dict(sorted(out.items()))
