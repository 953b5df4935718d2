"""MiMiC (Singh et al., ICML 2024): affine optimal transport of the negative class onto the positive.

The paper's code fits a logistic-regression classifier on raw activations and POT's
`LinearTransport(reg=1e-2)` from negatives (source) to positives (target): the Gaussian
(Bures-Wasserstein) map x -> (x - mu_s) A + mu_t with
    Cs = cov(neg) + reg I,  Ct = cov(pos) + reg I   (1/n covariances),
    A  = Cs^-1/2 (Cs^1/2 Ct Cs^1/2)^1/2 Cs^-1/2,
and applies it only to the rows the classifier predicts negative. The paper's code applies
the full map; we interpolate h + T (map(h) - h) on those rows, so T=1 is the paper's MiMiC.

Numerics: everything in float64 with eigenvalues clipped at 0 before `reg` is added, so
float32 input never gives NaN. When both classes together have fewer samples than d the
covariances are reg I plus a low-rank part; we then work in the span of the data (small
eigenproblems of size n_neg and n_neg + n_pos, whose matrices are assembled from the
data's small Gram blocks) and use A = I on its orthogonal complement, which is exact.
Otherwise a Cholesky factor of Cs replaces one of the two d x d eigendecompositions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from steerbench.steerers.base import Steerer
from steerbench.steerers.logistic import fit_logistic


def _eigh(M: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenpairs of the symmetric M, ascending. On CPU, LAPACK's MRRR driver through scipy:
    at n=3200 in float64 it took 5.9 s against 8.9 s for torch.linalg.eigh (the cost of
    MiMiC's fit; benchmarks/steerers.py). M is overwritten."""
    if M.device.type != "cpu":
        return torch.linalg.eigh(M)
    import scipy.linalg

    vals, vecs = scipy.linalg.eigh(M.numpy(), driver="evr", overwrite_a=True, check_finite=False)
    return torch.from_numpy(vals), torch.from_numpy(vecs)


def _positive_eig(M: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenpairs of the PSD M without its (numerical) null space: eigenvalues clipped at 0,
    those below 1e-12 of the largest dropped. M is overwritten."""
    vals, vecs = _eigh(M)
    vals = vals.clamp_min(0.0)
    keep = vals > vals.max() * 1e-12 if bool(vals.max() > 0) else vals > 0
    return vals[keep], vecs[:, keep]


def _psd_eig_from_rows(R: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenpairs (vals, vecs [d, r]) of R^T R from the smaller Gram matrix R R^T; drops null space."""
    vals, vecs = _positive_eig(R @ R.T)
    return vals, (R.T @ vecs) / vals.sqrt()


def _sqrt_and_invsqrt(vals: Tensor, vecs: Tensor, reg: float) -> tuple[Tensor, Tensor]:
    return vecs * (vals + reg).sqrt(), vecs * (vals + reg).rsqrt()


def _sym_outer(F: Tensor, w: Tensor, blocks: int = 4) -> Tensor:
    """F diag(w) F^T for F [d, k], computing only the blocks on and above the diagonal
    (10 of 16 block products) and mirroring the rest: 5/8 of the flops."""
    d = F.shape[0]
    Fw = F * w
    out = torch.empty(d, d, dtype=F.dtype, device=F.device)
    edges = [d * i // blocks for i in range(blocks + 1)]
    for i in range(blocks):
        rows = slice(edges[i], edges[i + 1])
        for j in range(i, blocks):
            cols = slice(edges[j], edges[j + 1])
            out[rows, cols] = Fw[rows] @ F[cols].T
            if j != i:
                out[cols, rows] = out[rows, cols].T
    return out


def bures_map(src: Tensor, tgt: Tensor, reg: float) -> tuple[Tensor, Tensor]:
    """Matrix A [d, d] and bias b [d] (float64) of the Gaussian OT map x -> x A + b."""
    src, tgt = src.double(), tgt.double()
    ns, nt, d = len(src), len(tgt), src.shape[1]
    mu_s, mu_t = src.mean(0), tgt.mean(0)
    Xs, Xt = (src - mu_s) / ns ** 0.5, (tgt - mu_t) / nt ** 0.5  # Ns = Xs^T Xs, Nt = Xt^T Xt
    eye = torch.eye(d, dtype=torch.float64, device=src.device)
    if ns + nt < d:
        lam, V = _psd_eig_from_rows(Xs)  # Ns = V diag(lam) V^T, V [d, r] orthonormal
        s_half = (lam + reg).sqrt() - reg ** 0.5  # Cs^1/2 = sqrt(reg) I + V diag(s_half) V^T
        s_ihalf = (lam + reg).rsqrt() - reg ** -0.5  # Cs^-1/2 likewise
        # M = Cs^1/2 Ct Cs^1/2 = reg^2 I + G G^T with G = [sqrt(reg) V diag(sqrt lam), H],
        # H = Cs^1/2 Xt^T. G is never formed: with V^T V = I, every block of G^T G and every
        # product below needs only VtXt = V^T Xt^T and Xt Xt^T (a third of the flops).
        VtXt = V.T @ Xt.T  # [r, nt]
        top = (reg * lam).sqrt() * (lam + reg).sqrt()  # V^T H = diag(sqrt(lam + reg)) VtXt
        gram = torch.empty(len(lam) + nt, len(lam) + nt, dtype=torch.float64, device=src.device)
        r = len(lam)
        gram[:r, :r] = torch.diag(reg * lam)
        gram[:r, r:] = top[:, None] * VtXt
        gram[r:, :r] = gram[:r, r:].T
        gram[r:, r:] = reg * (Xt @ Xt.T) + VtXt.T @ (lam[:, None] * VtXt)  # H^T H = Xt Cs Xt^T
        mu_m, Y = _positive_eig(gram)
        # M's eigenvectors U = G Y diag(mu^-1/2) = V C1 + Xt^T C2, and P = Cs^-1/2 U = V E1 + Xt^T E2.
        Y_top, Y_bot = Y[:r], Y[r:]
        inv = mu_m.rsqrt()
        C1 = ((reg * lam).sqrt()[:, None] * Y_top + s_half[:, None] * (VtXt @ Y_bot)) * inv
        C2 = (reg ** 0.5 * Y_bot) * inv
        E1 = reg ** -0.5 * C1 + s_ihalf[:, None] * (C1 + VtXt @ C2)
        P = V @ E1 + Xt.T @ (reg ** -0.5 * C2)
        # sqrt(M) = reg I + U diag(sqrt(mu + reg^2) - reg) U^T
        core = (mu_m + reg ** 2).sqrt() - reg
        # A = Cs^-1/2 sqrt(M) Cs^-1/2 = reg Cs^-1 + P diag(core) P^T
        cs_inv_diag = 1.0 / (lam + reg) - 1.0 / reg
        A = _sym_outer(torch.cat([V, P], dim=1), torch.cat([reg * cs_inv_diag, core]))
        A.diagonal().add_(1.0)
    else:
        # One eigendecomposition instead of two: with Cs = L L^T (Cholesky),
        # A = L^-T (L^T Ct L)^1/2 L^-1 is the same map (the unique SPD A with A Cs A = Ct).
        L = torch.linalg.cholesky(Xs.T @ Xs + reg * eye)
        XtL = Xt @ L  # L^T Ct L = (Xt L)^T (Xt L) + reg L^T L
        mu_m, U = _eigh(XtL.T @ XtL + reg * (L.T @ L))
        W = torch.linalg.solve_triangular(L.T, U, upper=True)  # L^-T U
        A = (W * mu_m.clamp_min(0.0).sqrt()) @ W.T
    A = (A + A.T) / 2  # symmetric in exact arithmetic
    return A, mu_t - mu_s @ A


class MiMiC(Steerer):
    name = "MiMiC"

    def __init__(self, reg: float = 1e-2, C: float = 1.0, max_iter: int = 1000) -> None:
        super().__init__(reg=reg, C=C, max_iter=max_iter)
        if reg <= 0:
            raise ValueError(f"MiMiC: reg must be > 0 (it keeps the covariances invertible), got {reg}")
        self.reg, self.C, self.max_iter = float(reg), float(C), int(max_iter)

    def _fit(self, pos: Tensor, neg: Tensor) -> None:
        X = torch.cat([pos, neg]).float()
        y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(X.device)
        coef, intercept = fit_logistic(X, y, C=self.C, max_iter=self.max_iter)
        A, b = bures_map(neg, pos, self.reg)
        if not bool(torch.isfinite(A).all()):
            raise ValueError("MiMiC.fit: the transport map is not finite; increase `reg`")
        self.state.update(
            probe_coef=coef.float(), probe_intercept=intercept.reshape(1).float(), A=A.float(), b=b.float()
        )

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        negative = (x @ s["probe_coef"] + s["probe_intercept"]) <= 0  # sklearn predicts 1 iff > 0
        moved = x + T * (x @ s["A"] + s["b"] - x)
        return torch.where(negative[:, None], moved, x)
