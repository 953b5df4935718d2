"""LinAcT (Rodriguez et al., ICLR 2025): per-dimension linear optimal transport neg -> pos.

As in the paper's code: take the first n = min(#pos, #neg) rows of each class, centre them,
sort each dimension independently and fit the least-squares slope between the sorted
source (neg) and target (pos) values: map_j(x) = w_j x + b_j with
w_j = sum(t_sorted * s_sorted) / (sum(s_sorted^2) + 1e-10) and b_j = mean_t - w_j mean_s.
The paper's code applies the full map; we interpolate h + T (map(h) - h), so T=1 is the
paper's LinAcT and T=0 leaves h unchanged.
"""

from __future__ import annotations

from torch import Tensor

from steerbench.steerers.base import Steerer


class LinAcT(Steerer):
    name = "LinAcT"

    def __init__(self) -> None:
        super().__init__()

    def _fit(self, pos: Tensor, neg: Tensor) -> None:
        n = min(len(pos), len(neg))
        tgt, src = pos[:n].double(), neg[:n].double()
        m_t, m_s = tgt.mean(0), src.mean(0)
        # Sort each dimension along a contiguous axis (rows of the transpose): much faster.
        t_sorted = (tgt - m_t).T.contiguous().sort(dim=1).values
        s_sorted = (src - m_s).T.contiguous().sort(dim=1).values
        w = (t_sorted * s_sorted).sum(1) / (s_sorted.square().sum(1) + 1e-10)
        self.state["scale"] = w.float()
        self.state["shift"] = (m_t - w * m_s).float()

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        mapped = x * s["scale"] + s["shift"]
        return x + T * (mapped - x)
