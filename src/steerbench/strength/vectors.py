"""Per-layer concept features and the mean-difference vectors v_l.

A prompt's feature at layer l is the mean of the block output over its non-pad tokens;
v_l = mean over positive prompts minus mean over negative prompts (not normalised), as in
the strength paper's code. Every requested layer is read from one forward pass per batch.
The mean activation norm (mean over all non-pad tokens of ||h||) sets the scale that
makes alphas comparable across layers and models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from steerbench.lm.batching import check_batch_size, check_texts, encode, forward_kwargs, input_device, pad_left
from steerbench.lm.hooks import StopForward, hidden_of
from steerbench.lm.model import LM


@dataclass
class LayerFeatures:
    """Token-mean features [N, d] per layer, and the per-layer sum of token norms / token count."""

    features: dict[int, Tensor]
    norm_sum: dict[int, float]
    tokens: int


def token_mean_features(lm: LM, texts: Sequence[str], layers: Sequence[int], batch_size: int = 16) -> LayerFeatures:
    """Each text's block output averaged over its non-pad tokens, for all `layers` at once."""
    check_texts(texts, "texts")
    check_batch_size(batch_size)
    if not texts:
        raise ValueError("no texts to read features from; the concept prompt set is empty")
    layers = sorted({int(layer) for layer in layers})
    for layer in layers:
        lm.layer(layer)  # range check before any forward
    ids = encode(lm.tokenizer, texts)
    if any(not row for row in ids):
        raise ValueError("a concept prompt tokenizes to nothing; drop empty prompts")
    device = input_device(lm.model)
    feats = {layer: [] for layer in layers}
    norm_sum = {layer: 0.0 for layer in layers}
    tokens = 0
    state: dict = {}

    def make(layer: int):
        def hook(module, args, output):
            h = hidden_of(output).to(torch.float32)
            m = state["mask"].to(h.device, torch.float32)[..., None]
            feats[layer].append(((h * m).sum(1) / m.sum(1)).cpu())
            norm_sum[layer] += float((h.norm(dim=-1) * m[..., 0]).sum())
            if layer == layers[-1]:
                raise StopForward

        return hook

    handles = [lm.layer(layer).register_forward_hook(make(layer)) for layer in layers]
    try:
        with torch.inference_mode():
            for start in range(0, len(ids), batch_size):
                input_ids, mask = pad_left(ids[start : start + batch_size], lm.tokenizer.pad_token_id, device)
                state["mask"] = mask
                tokens += int(mask.sum())
                try:
                    lm.model(input_ids=input_ids, **forward_kwargs(lm.model, mask))
                except StopForward:
                    pass
    finally:
        for handle in handles:
            handle.remove()
    return LayerFeatures({layer: torch.cat(feats[layer]) for layer in layers}, norm_sum, tokens)


@dataclass
class ConceptVectors:
    """What the strength analysis needs per layer: v_l, the features it came from, the norm scale."""

    vectors: dict[int, Tensor]
    pos: dict[int, Tensor]
    neg: dict[int, Tensor]
    mean_norm: dict[int, float]

    def to_tensors(self) -> dict[str, Tensor]:
        out = {}
        for layer in self.vectors:
            out[f"v.{layer}"] = self.vectors[layer].contiguous()
            out[f"pos.{layer}"] = self.pos[layer].contiguous()
            out[f"neg.{layer}"] = self.neg[layer].contiguous()
            out[f"mean_norm.{layer}"] = torch.tensor([self.mean_norm[layer]], dtype=torch.float64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor]) -> "ConceptVectors":
        layers = sorted(int(k.split(".", 1)[1]) for k in tensors if k.startswith("v."))
        return cls(
            vectors={layer: tensors[f"v.{layer}"] for layer in layers},
            pos={layer: tensors[f"pos.{layer}"] for layer in layers},
            neg={layer: tensors[f"neg.{layer}"] for layer in layers},
            mean_norm={layer: float(tensors[f"mean_norm.{layer}"][0]) for layer in layers},
        )

    def save(self, path) -> None:
        from safetensors.torch import save_file

        from steerbench.io import atomic_path

        with atomic_path(path) as tmp:
            save_file(self.to_tensors(), str(tmp))

    @classmethod
    def load(cls, path) -> "ConceptVectors":
        from pathlib import Path

        from safetensors.torch import load_file

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no concept vectors file; run the strength_vectors stage first")
        return cls.from_tensors(load_file(str(path)))


def concept_vectors(lm: LM, positive: Sequence[str], negative: Sequence[str], layers: Sequence[int], batch_size: int = 16) -> ConceptVectors:
    """v_l = mean(pos features) - mean(neg features) for every layer, from one pass per batch."""
    if not positive or not negative:
        raise ValueError(f"a concept needs positive and negative prompts, got {len(positive)} and {len(negative)}")
    pos = token_mean_features(lm, positive, layers, batch_size)
    neg = token_mean_features(lm, negative, layers, batch_size)
    f64 = torch.float64
    vectors = {layer: (pos.features[layer].mean(0, dtype=f64) - neg.features[layer].mean(0, dtype=f64)).float() for layer in pos.features}
    norms = {layer: (pos.norm_sum[layer] + neg.norm_sum[layer]) / (pos.tokens + neg.tokens) for layer in pos.features}
    return ConceptVectors(vectors, pos.features, neg.features, norms)
