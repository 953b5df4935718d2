"""The steerer whose T plays alpha: mean difference (v_l) by default, any registered one.

Every steerer is fitted on the concept's token-mean features at the layer (the features
v_l is made of), so the default "CAA" reproduces v_l exactly: mean(pos) - mean(neg).
"""

from __future__ import annotations

from steerbench.steerers import get_steerer
from steerbench.strength.vectors import ConceptVectors

DEFAULT_STEERER = "CAA"


def concept_steerer(cv: ConceptVectors, layer: int, name: str = DEFAULT_STEERER, params: dict | None = None, seed: int = 0):
    """A fitted steerer for `layer`; for CAA that is the vector v_l itself (the fast path)."""
    if layer not in cv.vectors:
        raise ValueError(f"layer {layer} has no concept vector (layers: {sorted(cv.vectors)}); add it to strength.layers")
    if name == DEFAULT_STEERER and not params:
        return cv.vectors[layer]
    steerer = get_steerer(name, **(params or {}))
    steerer.fit(cv.pos[layer], cv.neg[layer], seed=seed)
    return steerer
