"""AlphaSteer (Sheng et al. 2025, arXiv 2506.07022) and Dynamic AlphaSteer: refusal steering
by a matrix constrained to the null space of benign activations.

pos = harmful activations H_h [n, d], neg = benign H_b [m, d] (one layer, last prompt token).
  - Null space: the p = floor(ratio * d) eigenvectors Q of H_b^T H_b with the smallest
    eigenvalues (uncentred, as the official code), P = Q Q^T. Borderline activations, when
    given, join the benign set here: the official code adds its borderline-style sets
    (COCONot) to the benign null-space data.
  - Refusal vector r = mean(H_h) - mean(H_b) (difference of means, Arditi et al. 2024). The
    official code loads a precomputed per-layer refusal direction instead; its sign
    convention there goes with NEGATIVE strengths in its configs. Ours points towards the
    harmful (refusing) side, so a positive T pushes towards refusal.
  - Ridge solve with X = H_h P and target R = 1 r^T (every harmful row should map to r):
        Delta~ = pinv(X^T X + lambda P^T P) X^T R,   Delta = P Delta~   (lambda = 10).
    With P = Q Q^T, X^T X + lambda P = Q (M) Q^T with M = Q^T H_h^T H_h Q + lambda I, so
        Delta = u r^T,   u = Q pinv(M) Q^T H_h^T 1.
    Delta is exactly rank one; we store u and r (2d numbers instead of d^2: 64 MB per layer
    for d = 4096) and `matrix` rebuilds Delta. Tests check this against the literal formula.
  - steer(h, T) = h + T * h @ Delta = h + T (h . u) r. Because u lies in the benign null
    space, h_b . u ~ 0: benign states barely move; harmful ones move along r.
  - positions = "prompt": at prefill every prompt position is shifted by the edit computed
    from the last prompt token (the official decoder layer adds T * h_last @ Delta to the
    whole prompt once; decoding steps are not edited).

Layer index: the official code edits the residual stream ENTERING decoder layer l (its
activations are hidden_states[l]); steerbench's layer i is the OUTPUT of decoder layer i,
the same tensor as the input of layer i + 1. The paper's layer l is our layer l - 1 (the
paper's Llama-3.1 layers 8-14, 16, 18, 19 are our 7-13, 15, 17, 18). See docs/refusal.md.

Dynamic AlphaSteer adds a gate g(h) in (0, 1) per layer, strength T * g(h_last): an MLP
d -> 512 -> ReLU -> dropout 0.1 -> 1 -> sigmoid trained with binary cross-entropy on
harmful = 1, benign = 0, borderline = 0.5 (Adam, lr 1e-3, weight decay 1e-4). The official
repository has no code for it; epochs, batch size and the input standardisation (per
feature, fitted on the training rows; an affine map the first layer could absorb, it keeps
Adam's step sizes sensible for activations of any scale) are our choices.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from steerbench.steerers.base import Steerer


def null_space_basis(H: Tensor, ratio: float) -> Tensor:
    """Q [d, p]: the p = floor(ratio * d) eigenvectors of H^T H with the smallest eigenvalues."""
    d = H.shape[1]
    p = math.floor(ratio * d)
    if p < 1:
        raise ValueError(f"null-space ratio {ratio} keeps floor({ratio} * {d}) = 0 directions; raise the ratio")
    H = H.to(torch.float64)
    _, vecs = torch.linalg.eigh(H.T @ H)  # ascending eigenvalues
    return vecs[:, :p]


class AlphaSteer(Steerer):
    name = "AlphaSteer"
    accepts = ("borderline",)
    positions = "prompt"

    def __init__(self, ratio: float = 0.6, lam: float = 10.0) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
            raise ValueError(f"{self.name}: null-space ratio must be a number in (0, 1), got {ratio!r}")
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not float(lam) >= 0.0:
            raise ValueError(f"{self.name}: ridge lambda `lam` must be a number >= 0, got {lam!r}")
        super().__init__(ratio=float(ratio), lam=float(lam))
        self.ratio, self.lam = float(ratio), float(lam)

    def _fit(self, pos: Tensor, neg: Tensor, borderline: Tensor | None = None) -> None:
        benign = neg if borderline is None else torch.cat([neg, self._check_borderline(borderline)])
        Q = null_space_basis(benign, self.ratio)
        Hh = pos.to(torch.float64)
        r = Hh.mean(0) - neg.to(torch.float64).mean(0)
        XQ = Hh @ Q  # harmful rows in null-space coordinates: X = XQ Q^T
        M = XQ.T @ XQ + self.lam * torch.eye(Q.shape[1], dtype=torch.float64)
        u = Q @ (torch.linalg.pinv(M, hermitian=True) @ XQ.sum(0))
        self.state["u"] = u.float()
        self.state["r"] = r.float()

    def _check_borderline(self, b: Tensor) -> Tensor:
        if b.ndim != 2 or b.shape[1] != self.d or not b.is_floating_point():
            raise ValueError(f"{self.name}.fit: extra `borderline` must be a float [n, {self.d}] tensor, "
                             f"got {tuple(b.shape)} {b.dtype}")
        return b

    @property
    def matrix(self) -> Tensor:
        """The steering matrix Delta [d, d] (= u r^T)."""
        return torch.outer(self.state["u"], self.state["r"])

    def _strength(self, x: Tensor, s: dict[str, Tensor]) -> Tensor | float:
        return 1.0

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        coef = (x @ s["u"]) * self._strength(x, s)
        return x + T * coef[:, None] * s["r"]


class _Gate(nn.Module):
    def __init__(self, d: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)  # logits; sigmoid in the loss and at steer time


class DynamicAlphaSteer(AlphaSteer):
    name = "DynamicAlphaSteer"
    HIDDEN, DROPOUT = 512, 0.1

    def __init__(self, ratio: float = 0.6, lam: float = 10.0, epochs: int = 30, batch_size: int = 64,
                 lr: float = 1e-3, weight_decay: float = 1e-4) -> None:
        super().__init__(ratio=ratio, lam=lam)
        for key, v in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{self.name}: {key} must be a positive int, got {v!r}")
        if not lr > 0 or not weight_decay >= 0:
            raise ValueError(f"{self.name}: need lr > 0 and weight_decay >= 0, got {lr!r}, {weight_decay!r}")
        self.hyperparams.update(epochs=epochs, batch_size=batch_size, lr=float(lr), weight_decay=float(weight_decay))
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, float(lr), float(weight_decay)

    def _fit(self, pos: Tensor, neg: Tensor, borderline: Tensor | None = None) -> None:
        super()._fit(pos, neg, borderline)
        parts = [(pos, 1.0), (neg, 0.0)] + ([] if borderline is None else [(borderline, 0.5)])
        X = torch.cat([x.to(torch.float32) for x, _ in parts])
        y = torch.cat([torch.full((x.shape[0],), t, dtype=torch.float32) for x, t in parts])
        mu = X.mean(0)
        sd = X.std(0).clamp_min(1e-6)
        Z = (X - mu) / sd
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(self.fit_seed)  # weights, shuffling and dropout masks
            gate = _Gate(X.shape[1], self.HIDDEN, self.DROPOUT)
            opt = torch.optim.Adam(gate.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = nn.BCEWithLogitsLoss()
            gate.train()
            for _ in range(self.epochs):
                for idx in torch.randperm(Z.shape[0]).split(self.batch_size):
                    opt.zero_grad()
                    loss_fn(gate(Z[idx]), y[idx]).backward()
                    opt.step()
        first, last = gate.net[0], gate.net[3]
        self.state.update(mu=mu, sd=sd, w1=first.weight.detach().clone(), b1=first.bias.detach().clone(),
                          w2=last.weight.detach()[0].clone(), b2=last.bias.detach().clone())

    def gate(self, h: Tensor) -> Tensor:
        """g(h) in (0, 1) per row of h [n, d] (eval mode: no dropout)."""
        x = h.reshape(-1, self.d).to(torch.float32)
        return self._strength(x, self._tensors(x.device, torch.float32)).reshape(h.shape[:-1])

    def _strength(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        z = (x - s["mu"]) / s["sd"]
        return torch.sigmoid(torch.relu(z @ s["w1"].T + s["b1"]) @ s["w2"] + s["b2"])
