"""ODESteer (Zhao et al., ICLR 2026) and its one-step and random-Fourier-feature variants.

The barrier function is the log density ratio log p_pos(x) / p_neg(x), estimated by
logistic regression (scikit-learn's objective, see `logistic.py`) on kernel features:
    f(x) = w . phi(x) + b + log(n_neg / n_pos).
ODESteer integrates dx/dt = grad f(x) / |grad f(x)| from t=0 to t=T (default: 10 Euler
steps, as the paper; `midpoint` and `rk4` too). StepODESteer takes one Euler step of size
T. RFFODESteer is the paper's ablation with random Fourier features.

ODESteer's features are the degree-2 polynomial TensorSketch (`sketch.py`) of the
L2-normalised activation, x^ = x / |x| (paper defaults: 8000 components, gamma 0.1,
coef0 1.0). The gradient is analytic: the sketch gradient with respect to x^, then the
Jacobian of the normalisation, (I - x^ x^T) / |x|. No autograd at steer time.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from steerbench.progress import progress_iter
from steerbench.steerers import rff as rff_mod
from steerbench.steerers import sketch
from steerbench.steerers.base import Steerer
from steerbench.steerers.logistic import ColumnStats, fit_logistic

SOLVERS = ("euler", "midpoint", "rk4")
_CHUNK = 2048  # rows per feature block at fit time (bounds memory)


def integrate(field: Callable[[Tensor], Tensor], x: Tensor, T: float, solver: str, steps: int) -> Tensor:
    """Fixed-step integration of dx/dt = field(x) from 0 to T."""
    h = T / steps
    for _ in range(steps):
        if solver == "euler":
            x = x + h * field(x)
        elif solver == "midpoint":
            x = x + h * field(x + 0.5 * h * field(x))
        else:  # rk4
            k1 = field(x)
            k2 = field(x + 0.5 * h * k1)
            k3 = field(x + 0.5 * h * k2)
            k4 = field(x + h * k3)
            x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def _threaded_cpu_route(x: Tensor) -> bool:
    """Fit-time features by `sketch.spectral_features_cpu` (CPU) or by row blocks of the
    device route (a function so that tests can take the device route on CPU)."""
    return x.device.type == "cpu"


def _unit(g: Tensor) -> Tensor:
    # Same guard as the paper's code: a zero gradient gives a zero step, never NaN.
    return g / (g.norm(dim=-1, keepdim=True) + 1e-10)


class KernelFieldSteerer(Steerer):
    """Fit logistic regression on a feature map; steer along the normalised gradient field."""

    def __init__(self, *, C: float, max_iter: int, seed: int | None, **hp) -> None:
        super().__init__(**hp, C=C, max_iter=max_iter, **({} if seed is None else {"seed": seed}))
        if C <= 0:
            raise ValueError(f"{self.name}: C must be > 0, got {C}")
        self.C, self.max_iter = float(C), int(max_iter)
        self._hash_seed = None if seed is None else int(seed)

    @property
    def seed(self) -> int:
        """The feature map's seed: the `seed` hyperparameter when given, else fit()'s seed."""
        return self.fit_seed if self._hash_seed is None else self._hash_seed

    # subclass hooks ----------------------------------------------------------
    def _prepare(self, pos: Tensor, neg: Tensor) -> None:
        """Draw the feature map (hashes / frequencies) into self.state."""
        raise NotImplementedError

    def _features(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def _score_grad(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        """d(w . phi(x)) / dx."""
        raise NotImplementedError

    # fitting -----------------------------------------------------------------
    def _fit(self, pos: Tensor, neg: Tensor) -> None:
        self._prepare(pos, neg)
        s = {k: v.to(pos.device) for k, v in self.state.items()}
        Z, stats, basis = self._fit_features(pos, neg, s)
        y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(Z.device)
        coef, intercept = fit_logistic(Z, y, C=self.C, max_iter=self.max_iter, col_stats=stats, basis=basis)
        if basis is not None:
            coef = basis(coef)
        self.state["coef"] = coef.float()
        self.state["intercept"] = intercept.reshape(1).float()

    def _fit_features(
        self, pos: Tensor, neg: Tensor, s: dict[str, Tensor]
    ) -> tuple[Tensor, ColumnStats | None, Callable[[Tensor], Tensor] | None]:
        """The fitting rows' features (float32, pos first) in some orthonormal basis, their
        `ColumnStats` or None, and the map from weights in that basis back to weights on
        the features (None: the basis is the features' own)."""
        return self._in_row_blocks(pos, neg, lambda rows: self._features(rows, s)), None, None

    def _in_row_blocks(self, pos: Tensor, neg: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """fn over the fitting rows (pos first, float32) in blocks of _CHUNK, stacked."""
        X = torch.cat([pos, neg]).float()
        blocks = progress_iter(X.split(_CHUNK), f"{self.name} features", unit="block")
        return torch.cat([fn(block) for block in blocks])

    # the barrier function and its field -------------------------------------
    def decision_function(self, x: Tensor) -> Tensor:
        """Classifier logit w . phi(x) + b for rows x [..., d] (positive means `pos`)."""
        self._check_ready(x)
        s = self._tensors(x.device, x.dtype if x.dtype == torch.float64 else torch.float32)
        flat = x.reshape(-1, self.d).to(s["coef"].dtype)
        return (self._features(flat, s) @ s["coef"] + s["intercept"]).reshape(x.shape[:-1])

    def log_ratio(self, x: Tensor) -> Tensor:
        """Estimated log p_pos(x) / p_neg(x): the logit corrected by the class prior."""
        return self.decision_function(x) + math.log(self.n_neg / self.n_pos)

    def vector_field(self, x: Tensor) -> Tensor:
        """grad log_ratio / |grad log_ratio| for rows x [..., d] (analytic)."""
        self._check_ready(x)
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        s = self._tensors(x.device, work)
        flat = x.reshape(-1, self.d).to(work)
        return _unit(self._score_grad(flat, s)).reshape(x.shape).to(x.dtype)

    def _check_ready(self, x: Tensor) -> None:
        if not self.fitted:
            raise ValueError(f"{self.name} used before fit(); fit the steerer or load a saved one")
        if x.shape[-1] != self.d:
            raise ValueError(f"{self.name}: input has d={x.shape[-1]}, steerer was fitted with d={self.d}")


class _ODEMixin:
    """steer = integrate the unit field from 0 to T with `solver` and `steps`."""

    def _check_solver(self, solver: str, steps: int) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"{self.name}: unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        if int(steps) < 1:
            raise ValueError(f"{self.name}: steps must be >= 1, got {steps}")

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        return integrate(lambda z: _unit(self._score_grad(z, s)), x, T, self.solver, self.steps)


class _PolySketchField(KernelFieldSteerer):
    """Features: TensorSketch of x^ = x / |x| (the paper's NormedPolyCntSketch)."""

    def __init__(self, *, degree: int, n_components: int, gamma: float, coef0: float, **kw) -> None:
        super().__init__(degree=degree, n_components=n_components, gamma=gamma, coef0=coef0, **kw)
        if int(degree) < 1 or int(n_components) < 1 or gamma <= 0 or coef0 < 0:
            raise ValueError(
                f"{self.name}: need degree >= 1, n_components >= 1, gamma > 0, coef0 >= 0; got "
                f"degree={degree}, n_components={n_components}, gamma={gamma}, coef0={coef0}"
            )
        self.degree, self.n_components = int(degree), int(n_components)
        self.gamma, self.coef0 = float(gamma), float(coef0)

    def _prepare(self, pos: Tensor, neg: Tensor) -> None:
        index, sign = sketch.make_hashes(self.d + 1, self.degree, self.n_components, self.seed)
        table, tsign = sketch.gather_tables(index, sign, self.n_components)
        self.state.update(hash_index=index, hash_sign=sign, table=table, table_sign=tsign)

    def _normalised(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r = x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return x / r, r

    def _features(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        xh, _ = self._normalised(x)
        return sketch.features(xh, sketch.prepare(s, self.gamma, self.coef0))

    def _fit_features(self, pos: Tensor, neg: Tensor, s: dict[str, Tensor]):
        # The features in the orthonormal spectral basis (no inverse FFT; see `sketch`).
        s = sketch.prepare(s, self.gamma, self.coef0)
        basis = lambda v: sketch.from_spectral(v, self.n_components)  # noqa: E731
        if not _threaded_cpu_route(pos):
            Z = self._in_row_blocks(pos, neg, lambda rows: sketch.spectral_features(self._normalised(rows)[0], s))
            return Z, None, basis
        Z, (sum_pos, sum_neg), sum_sq = sketch.spectral_features_cpu(
            [pos, neg], s, transform=lambda xb: self._normalised(xb)[0])
        return Z, ColumnStats(sum_pos, sum_neg, sum_sq), basis

    def _score_grad(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        sketch.prepare(s, self.gamma, self.coef0)
        if self.degree == 2:  # the paper's setting: the fused route
            sketch.prepare_grad2(s, s["coef"])
            r = torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)
            xh = x / r
            u = sketch.score_grad2(xh, s)
            return u.sub_(xh * (xh * u).sum(-1, keepdim=True)).div_(r)
        if "coef_hat" not in s:  # `s` is the per-device cache: the FFT of w is computed once
            s["coef_hat"] = torch.fft.rfft(s["coef"])
            s["coef_hat_conj"] = s["coef_hat"].conj().resolve_conj()
        xh, r = self._normalised(x)
        u = sketch.score_grad(xh, s["coef_hat"], s, s["coef_hat_conj"])  # gradient with respect to x^
        return (u - xh * (xh * u).sum(-1, keepdim=True)) / r


class ODESteer(_ODEMixin, _PolySketchField):
    name = "ODESteer"

    def __init__(
        self,
        degree: int = 2,
        n_components: int = 8000,
        gamma: float = 0.1,
        coef0: float = 1.0,
        solver: str = "euler",
        steps: int = 10,
        C: float = 1.0,
        max_iter: int = 1000,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            degree=degree, n_components=n_components, gamma=gamma, coef0=coef0,
            solver=solver, steps=steps, C=C, max_iter=max_iter, seed=seed,
        )
        self._check_solver(solver, steps)
        self.solver, self.steps = solver, int(steps)


class StepODESteer(_PolySketchField):
    """One Euler step of size T of ODESteer's field: h + T * v(h)."""

    name = "StepODESteer"

    def __init__(
        self,
        degree: int = 2,
        n_components: int = 8000,
        gamma: float = 0.1,
        coef0: float = 1.0,
        C: float = 1.0,
        max_iter: int = 1000,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            degree=degree, n_components=n_components, gamma=gamma, coef0=coef0,
            C=C, max_iter=max_iter, seed=seed,
        )

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        return x + T * _unit(self._score_grad(x, s))


class RFFODESteer(_ODEMixin, KernelFieldSteerer):
    """Ablation: ODESteer with random Fourier features (RBF kernel) on the raw activations."""

    name = "RFFODESteer"

    def __init__(
        self,
        n_components: int = 8000,
        sigma: float | str = "median",
        solver: str = "euler",
        steps: int = 10,
        C: float = 1.0,
        max_iter: int = 1000,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            n_components=n_components, sigma=sigma, solver=solver, steps=steps, C=C, max_iter=max_iter, seed=seed
        )
        if not (sigma == "median" or (isinstance(sigma, (int, float)) and sigma > 0)):
            raise ValueError(f"RFFODESteer: sigma must be 'median' or a positive number, got {sigma!r}")
        if int(n_components) < 1:
            raise ValueError(f"RFFODESteer: n_components must be >= 1, got {n_components}")
        self._check_solver(solver, steps)
        self.n_components, self.sigma = int(n_components), sigma
        self.solver, self.steps = solver, int(steps)

    def _prepare(self, pos: Tensor, neg: Tensor) -> None:
        sigma = self.sigma
        if sigma == "median":
            sigma = rff_mod.median_distance(torch.cat([pos, neg]), self.seed)
        W, c = rff_mod.make_rff(self.d, self.n_components, float(sigma), self.seed)
        self.state.update(rff_W=W, rff_c=c, sigma=torch.tensor([float(sigma)]))

    def _features(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        return rff_mod.rff_features(x, s["rff_W"].to(x.dtype), s["rff_c"].to(x.dtype))

    def _score_grad(self, x: Tensor, s: dict[str, Tensor]) -> Tensor:
        return rff_mod.rff_score_grad(x, s["coef"], s["rff_W"], s["rff_c"])
