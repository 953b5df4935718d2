"""Polynomial-kernel features by TensorSketch (Pham & Pagh 2013), and their gradient.

For an input x in R^d the bias-extended, scaled vector is x~ = [sqrt(gamma) x, sqrt(coef0)].
Each of `degree` count sketches hashes coordinate i of x~ to bucket h_k(i) with sign
s_k(i); the features phi(x) are the circular convolution of the sketches, computed with
real FFTs, and E<phi(x), phi(y)> = (gamma <x, y> + coef0)^degree.

The sketch of x~ is sqrt(gamma) * (sketch of x) + (the constant sketch of the bias
coordinate), so we never build x~. On CPU the count sketch is an index_add (sequential,
so deterministic); on CUDA it is a gather through per-bucket index tables, deterministic
unlike CUDA's atomic scatter-add.

For fitting on CPU the features are produced in an orthonormal spectral basis instead
(`to_spectral`: the scaled real and imaginary parts of rfft(phi), which is just the
product of the sketches' spectra), saving the inverse FFT; a classifier with an L2
penalty is the same in any orthonormal basis and its weights map back by `from_spectral`.

The gradient of a linear score w.phi(x) is computed through the sketch as well:
d(w.phi)/dS_k is the circular cross-correlation of w with the convolution of the other
sketches (an FFT product), gathered back to the coordinates: O(d + D log D) per row. The
equivalent dense quadratic form (degree 2: w.phi = x~^T M x~, `quadratic_matrix`) costs a
(d+1)^2 matrix-vector product per row and is slower on CPU at d=4096 (measured in
benchmarks/steerers.py); it is kept for tests and that comparison.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor


def make_hashes(d_ext: int, degree: int, n_components: int, seed: int) -> tuple[Tensor, Tensor]:
    """Bucket indices [degree, d_ext] (int64) and signs [degree, d_ext] (float32, +-1).

    Coordinate d_ext - 1 is the bias coordinate of x~."""
    g = torch.Generator().manual_seed(int(seed))
    index = torch.randint(0, n_components, (degree, d_ext), generator=g)
    sign = torch.randint(0, 2, (degree, d_ext), generator=g).float() * 2 - 1
    return index, sign


def gather_tables(index: Tensor, sign: Tensor, n_components: int) -> tuple[Tensor, Tensor]:
    """Per-bucket tables for the input coordinates (all but the last, the bias):
    table[k, j, t] is the t-th coordinate hashed to bucket j by sketch k, padded with d
    (a zero column), and tsign its sign."""
    index, sign = index[:, :-1], sign[:, :-1]
    degree, d = index.shape
    counts = torch.stack([torch.bincount(index[k], minlength=n_components) for k in range(degree)])
    width = max(int(counts.max()), 1)
    table = torch.full((degree, n_components, width), d, dtype=torch.long)
    tsign = torch.zeros((degree, n_components, width), dtype=torch.float32)
    for k in range(degree):
        order = torch.argsort(index[k], stable=True)
        buckets = index[k][order]
        starts = torch.cumsum(counts[k], 0) - counts[k]
        slot = torch.arange(d) - starts[buckets]
        table[k, buckets, slot] = order
        tsign[k, buckets, slot] = sign[k][order]
    return table, tsign


def prepare(s: dict[str, Tensor], gamma: float, coef0: float) -> dict[str, Tensor]:
    """Add the derived tensors the fast paths use to a state dict holding `hash_index`,
    `hash_sign` (and `table`, `table_sign`); idempotent, so a per-device cache pays once."""
    if "sign_x" not in s:
        index, sign = s["hash_index"], s["hash_sign"]
        degree, d_ext = index.shape
        D = s["table"].shape[1]
        s["index_x"] = index[:, :-1].contiguous()
        s["sign_x"] = sign[:, :-1] * gamma ** 0.5
        bias = torch.zeros(degree, D, dtype=sign.dtype, device=sign.device)
        bias[torch.arange(degree, device=index.device), index[:, -1]] = sign[:, -1] * coef0 ** 0.5
        s["bias_sketch"] = bias
        s["table_sign_x"] = s["table_sign"].to(sign.dtype) * gamma ** 0.5
        if degree == 2:  # for `score_grad`'s degree-2 route (see there)
            s["grad_index"] = (-s["index_x"].flip(0)) % D
            s["grad_sign"] = s["sign_x"].flip(0).contiguous()
    return s


def count_sketches(x: Tensor, s: dict[str, Tensor], out: Tensor | None = None) -> Tensor:
    """Count sketches [degree, B, D] of x~ for rows x [B, d] (s from `prepare`), written
    into `out` (any [degree, B, D] view, e.g. a reused workspace) if given."""
    bias = s["bias_sketch"]
    degree, D = bias.shape
    B = x.shape[0]
    if out is None:
        out = bias[:, None, :].expand(degree, B, D).clone()
    else:
        out.copy_(bias[:, None, :].expand(degree, B, D))
    if x.device.type == "cpu":
        for k in range(degree):
            out[k].index_add_(1, s["index_x"][k], x * s["sign_x"][k])
        return out
    table, tsign = s["table"], s["table_sign_x"]
    padded = torch.cat([x, x.new_zeros(B, 1)], dim=1)
    for t in range(table.shape[-1]):  # one slot of every bucket at a time: B x p x D memory
        out += (padded[:, table[:, :, t]] * tsign[:, :, t]).transpose(0, 1)
    return out


def _spectrum(x: Tensor, s: dict[str, Tensor]) -> Tensor:
    """rfft(phi(x)) [B, D//2 + 1]: the product of the sketches' spectra."""
    spectra = torch.fft.rfft(count_sketches(x, s), dim=-1)
    product = spectra[0]
    for k in range(1, spectra.shape[0]):
        product = product * spectra[k]
    return product


def features(x: Tensor, s: dict[str, Tensor]) -> Tensor:
    """TensorSketch features phi [B, D] for rows x [B, d]."""
    return torch.fft.irfft(_spectrum(x, s), n=s["bias_sketch"].shape[1], dim=-1)


def spectral_scale(D: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Scale of each half-spectrum bin k = 0..D//2 in the orthonormal real spectral basis:
    1/sqrt(D) for the real-only bins (0, and D/2 when D is even), sqrt(2/D) otherwise."""
    scale = torch.full((D // 2 + 1,), (2.0 / D) ** 0.5, dtype=dtype)
    scale[0] = D ** -0.5
    if D % 2 == 0:
        scale[-1] = D ** -0.5
    return scale


def to_spectral(z: Tensor) -> Tensor:
    """U z for rows z [..., D]: rfft(z) scaled by `spectral_scale`, as interleaved real and
    imaginary parts [..., 2 (D//2 + 1)]. U is an isometry (Parseval): <U a, U b> = <a, b>.
    The imaginary parts of the real-only bins are always zero."""
    D = z.shape[-1]
    spec = torch.fft.rfft(z, dim=-1) * spectral_scale(D, z.dtype).to(z.device)
    return torch.view_as_real(spec).flatten(-2)


def from_spectral(v: Tensor, D: int) -> Tensor:
    """U^T v for v [..., 2 (D//2 + 1)] (`to_spectral`'s layout): back to [..., D]. The
    imaginary parts of the real-only bins are ignored."""
    V = torch.view_as_complex(v.reshape(*v.shape[:-1], D // 2 + 1, 2).contiguous())
    # irfft weighs bin k by c_k / D (c_k = 1 for real-only bins, else 2), so the spectrum
    # W with <phi, irfft(W)> = <U phi, v> is W_k = D s_k V_k / c_k = V_k / s_k.
    return torch.fft.irfft(V / spectral_scale(D, v.dtype).to(v.device), n=D, dim=-1)


def spectral_features(x: Tensor, s: dict[str, Tensor]) -> Tensor:
    """`to_spectral(features(x))` for rows x [B, d] on any device, without the inverse FFT
    (the fit route off CPU; `spectral_features_cpu` is the CPU one)."""
    scale = spectral_scale(s["bias_sketch"].shape[1], x.dtype).to(x.device)
    return torch.view_as_real(_spectrum(x, s) * scale).flatten(-2)


def spectral_features_cpu(parts: list[Tensor], s: dict[str, Tensor], transform=None, chunk: int = 32,
                          workers: int | None = None) -> tuple[Tensor, list[Tensor], Tensor]:
    """`to_spectral(features(transform(rows)))` for the rows of all `parts` (stacked) on
    CPU, float32 [rows, 2 (D//2 + 1)], with its column sums over each part's rows and its
    column sums of squares, float64 (for `logistic.ColumnStats`).

    Fitting needs the features only through inner products with a weight vector and its
    norm, both kept by U, so a classifier with an L2 penalty fitted on U phi is the one
    fitted on phi (its weights map back by `from_spectral`). In this basis a row is the
    product of its sketches' spectra: no inverse FFT (a third of the FFT work) and the
    forward FFT writes straight into the output. Rows go in cache-sized blocks through
    reused workspaces, split over `workers` threads (default: torch's thread count; the
    FFT of one small block does not parallelise well inside torch)."""
    degree, D = s["bias_sketch"].shape
    n_re = D // 2 + 1
    N = sum(p.shape[0] for p in parts)
    out = torch.empty(N, 2 * n_re, dtype=torch.float32)
    spectra = torch.view_as_complex(out.view(N, n_re, 2))
    scale = spectral_scale(D, torch.float32)
    # (part number, first row in part, first row in out, rows) for every block.
    blocks, row = [], 0
    for j, part in enumerate(parts):
        for i in range(0, part.shape[0], chunk):
            B = min(chunk, part.shape[0] - i)
            blocks.append((j, i, row, B))
            row += B
    workers = max(1, min(workers or torch.get_num_threads(), len(blocks)))

    def run(mine: list[tuple[int, int, int, int]]) -> tuple[Tensor, Tensor]:
        buf = torch.empty(degree, chunk, D)
        spec = torch.empty(max(degree - 1, 1), chunk, n_re, dtype=torch.complex64)  # sketches 2..
        squares = torch.empty(chunk, 2 * n_re)
        sums = torch.zeros(len(parts), 2 * n_re, dtype=torch.float64)
        sq = torch.zeros(2 * n_re, dtype=torch.float64)
        for j, i, row, B in mine:
            xb = parts[j][i : i + B].float()
            if transform is not None:
                xb = transform(xb)
            sk = count_sketches(xb, s, out=buf[:, :B])
            product = spectra[row : row + B]
            torch.fft.rfft(sk[0], dim=-1, out=product)
            product.mul_(scale)
            for k in range(1, degree):
                product.mul_(torch.fft.rfft(sk[k], dim=-1, out=spec[k - 1, :B]))
            z = out[row : row + B]  # while the block is in cache
            sums[j].add_(z.sum(0))
            sq.add_(torch.mul(z, z, out=squares[:B]).sum(0))
        return sums, sq

    if workers == 1:
        results = [run(blocks)]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the parallelism is ours: one thread per share of blocks
        try:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(run, [blocks[j::workers] for j in range(workers)]))
        finally:
            torch.set_num_threads(threads)
    sums = sum(r[0] for r in results)
    return out, list(sums), sum(r[1] for r in results)


def score_grad(x: Tensor, w_hat: Tensor, s: dict[str, Tensor], w_hat_conj: Tensor | None = None) -> Tensor:
    """d(w . phi(x)) / dx for rows x [B, d]; w_hat = rfft(w) [D//2 + 1] (and optionally its
    conjugate, precomputed, for the degree-2 route)."""
    degree, D = s["bias_sketch"].shape
    B, d = x.shape
    spectra = torch.fft.rfft(count_sketches(x, s), dim=-1)  # [p, B, D//2+1]
    if degree == 2 and "grad_index" in s:
        # c_k = irfft(F_k conj(W)) is the time reversal of irfft(conj(F_k) W), the
        # cross-correlation for the *other* degree: d(w.phi)/dS_{1-k}[m] = c_k[-m mod D].
        # So no flip of the spectra and no conjugate copy: one in-place product, one
        # inverse FFT, one gather at the precomputed reversed indices of the other sketch.
        spectra.mul_(w_hat.conj() if w_hat_conj is None else w_hat_conj)
        corr = torch.fft.irfft(spectra, n=D, dim=-1)  # [2, B, D]
        picked = corr.gather(-1, s["grad_index"][:, None, :].expand(2, B, d))
        sign = s["grad_sign"]
        return torch.addcmul(picked[0] * sign[0], picked[1], sign[1])
    # Product of the other degrees' spectra, for each degree k (degree 2 takes the route
    # above: `prepare` always adds grad_index for it).
    if degree == 1:
        others = torch.ones_like(spectra)
    else:
        others = torch.stack([
            torch.stack([spectra[j] for j in range(degree) if j != k]).prod(dim=0) for k in range(degree)
        ])
    # Cross-correlation c_k[m] = sum_n conv_others_k[n] w[n + m] = d(w.phi) / dS_k[m].
    corr = torch.fft.irfft(others.conj() * w_hat, n=D, dim=-1)  # [p, B, D]
    picked = corr.gather(-1, s["index_x"][:, None, :].expand(degree, B, d))
    return (picked * s["sign_x"][:, None, :]).sum(0)


def prepare_grad2(s: dict[str, Tensor], coef: Tensor) -> dict[str, Tensor]:
    """Degree 2: add the tensors `score_grad2` uses (for the linear score coef . phi) to the
    state dict `s` (already through `prepare`); idempotent, for the per-device cache."""
    if "grad2_index" not in s:
        degree, D = s["bias_sketch"].shape
        if degree != 2:
            raise ValueError("prepare_grad2 needs a degree-2 sketch")
        d = s["index_x"].shape[1]
        s["grad2_w_conj"] = torch.fft.rfft(coef).conj().resolve_conj()
        # Reversed indices of the other sketch, into the flattened [B, 2D] inverse FFT.
        s["grad2_index"] = torch.cat([s["grad_index"][0], s["grad_index"][1] + D])
        s["grad2_sign"] = s["grad_sign"].reshape(1, 2 * d).clone()
    return s


def score_grad2(x: Tensor, s: dict[str, Tensor]) -> Tensor:
    """Degree 2, the steer-time route of `score_grad` (same value, fewer and fused ops: the
    sketches of a row share one [2, D] block, one FFT pair, one index_select); s from
    `prepare` and `prepare_grad2`."""
    B, d = x.shape
    D = s["bias_sketch"].shape[1]
    S = x.new_empty(B, 2, D)
    count_sketches(x, s, out=S.transpose(0, 1))
    spectra = torch.fft.rfft(S, dim=-1)  # [B, 2, D//2+1]
    spectra.mul_(s["grad2_w_conj"])
    corr = torch.fft.irfft(spectra, n=D, dim=-1).reshape(B, 2 * D)
    picked = corr.index_select(1, s["grad2_index"]).mul_(s["grad2_sign"])  # [B, 2d]
    return picked[:, :d] + picked[:, d:]


def extend(x: Tensor, gamma: float, coef0: float) -> Tensor:
    """x~ = [sqrt(gamma) x, sqrt(coef0)] for rows of x (for `quadratic_matrix`)."""
    bias = x.new_full((*x.shape[:-1], 1), coef0 ** 0.5)
    return torch.cat([x * gamma ** 0.5, bias], dim=-1)


def quadratic_matrix(w: Tensor, index: Tensor, sign: Tensor) -> Tensor:
    """Degree 2 only: M with w.phi(x) = x~^T M x~ (M[i, j] = s1_i s2_j w[(h1_i + h2_j) mod D])."""
    if index.shape[0] != 2:
        raise ValueError("quadratic_matrix needs a degree-2 sketch")
    D = w.shape[0]
    buckets = (index[0][:, None] + index[1][None, :]) % D
    return sign[0][:, None] * sign[1][None, :] * w[buckets]
