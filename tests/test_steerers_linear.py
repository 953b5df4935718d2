"""Semantics of the baselines: CAA, RepE, ITI, LinAcT, MiMiC, and the shared logistic regression."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from steerbench.steerers import get_steerer
from steerbench.steerers.logistic import ColumnStats, fit_logistic
from steerbench.steerers.mimic import bures_map


def two_classes(n_pos: int, n_neg: int, d: int, seed: int = 0, sep: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    mix = torch.randn(d, d, generator=g) / d ** 0.5
    pos = torch.randn(n_pos, d, generator=g) @ mix + sep * u + 3.0
    neg = torch.randn(n_neg, d, generator=g) @ (mix * 1.5) - sep * u + 3.0
    return pos, neg


def test_caa_is_exactly_the_mean_difference():
    pos, neg = two_classes(40, 30, 16)
    st = get_steerer("CAA").fit(pos, neg)
    expected = (pos.double().mean(0) - neg.double().mean(0)).float()
    assert torch.equal(st.vector, expected)
    h = neg[:3]
    torch.testing.assert_close(st.steer(h, 2.0), h + 2.0 * expected)


def test_repe_is_first_principal_direction_of_paired_differences_pointing_to_pos():
    pos, neg = two_classes(50, 35, 12, seed=3)
    st = get_steerer("RepE").fit(pos, neg)
    diff = (pos[:35] - neg[:35]).double().numpy()  # pairs: the first min(n, m) rows
    ref = PCA(n_components=1).fit(diff).components_[0]
    v = st.vector.double().numpy()
    assert abs(np.linalg.norm(v) - 1) < 1e-6
    assert abs(abs(v @ ref) - 1) < 1e-5
    assert v @ diff.mean(0) > 0, "sign must point from negative to positive"
    # d < number of pairs takes the other eigen-route; same answer.
    pos2, neg2 = two_classes(60, 60, 8, seed=4)
    v2 = get_steerer("RepE").fit(pos2, neg2).vector.double().numpy()
    ref2 = PCA(n_components=1).fit((pos2 - neg2).double().numpy()).components_[0]
    assert abs(abs(v2 @ ref2) - 1) < 1e-5


def test_logistic_regression_matches_sklearn_objective():
    pos, neg = two_classes(150, 120, 20, seed=5, sep=0.3)
    X = torch.cat([pos, neg]).double()
    y = torch.cat([torch.ones(150), torch.zeros(120)]).double()
    w, b = fit_logistic(X, y, tol=1e-8)
    ref = LogisticRegression(max_iter=1000, tol=1e-10).fit(X.numpy(), y.numpy())
    np.testing.assert_allclose(w.numpy(), ref.coef_[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(b), ref.intercept_[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="single class"):
        fit_logistic(X, torch.ones(270, dtype=torch.float64))


def test_logistic_regression_with_given_column_stats_and_basis_is_the_same_fit():
    """Column statistics supplied by the caller (they replace two passes over X) and a fit
    in a rotated basis (X Q, Q orthogonal, weights mapped back by Q) give the same optimum."""
    pos, neg = two_classes(90, 110, 12, seed=7, sep=0.4)
    X = torch.cat([pos, neg]).double()
    y = torch.cat([torch.ones(90), torch.zeros(110)])
    w, b = fit_logistic(X, y, tol=1e-9)
    stats = ColumnStats(X[:90].sum(0), X[90:].sum(0), X.square().sum(0))
    w2, b2 = fit_logistic(X, y, tol=1e-9, col_stats=stats)
    Q = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    v, b3 = fit_logistic(X @ Q, y, tol=1e-9, basis=lambda u: Q @ u)
    for ww, bb in ((w2, b2), (Q @ v, b3)):
        # Both stop at |gradient| <= 1e-9; the penalty's curvature 1/n bounds the gap.
        torch.testing.assert_close(ww, w, rtol=1e-5, atol=1e-6)
        assert abs(float(bb - b)) < 1e-5


def test_iti_is_unit_norm_probe_direction_that_separates_classes():
    pos, neg = two_classes(120, 90, 24, seed=6)
    st = get_steerer("ITI").fit(pos, neg)
    v = st.vector.double()
    assert abs(float(v.norm()) - 1) < 1e-6
    assert float((pos.double() @ v).mean()) > float((neg.double() @ v).mean())
    # Against the exact optimum of sklearn's objective (a tight-tolerance sklearn fit).
    ref = LogisticRegression(max_iter=10000, tol=1e-10).fit(
        torch.cat([pos, neg]).double().numpy(), [1] * 120 + [0] * 90)
    ref_v = ref.coef_[0] / np.linalg.norm(ref.coef_[0])
    assert float(v.numpy() @ ref_v) > 0.9995
    torch.testing.assert_close(st.steer(neg[:2], 3.0), neg[:2] + 3.0 * st.vector)


def test_linact_maps_sorted_quantiles_and_interpolates_with_T():
    pos, neg = two_classes(30, 45, 10, seed=7)
    st = get_steerer("LinAcT").fit(pos, neg)
    n = 30
    tgt, src = pos[:n].double(), neg[:n].double()
    ts, ss = (tgt - tgt.mean(0)).sort(0).values, (src - src.mean(0)).sort(0).values
    w = (ts * ss).sum(0) / (ss.square().sum(0) + 1e-10)
    torch.testing.assert_close(st.state["scale"], w.float())
    full = st.steer(neg, 1.0)
    # T=1 moves the (first n) negatives' per-dimension means onto the positives'.
    torch.testing.assert_close(full[:n].double().mean(0), tgt.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(st.steer(neg, 0.5), neg + 0.5 * (full - neg))


def test_bures_map_low_rank_route_equals_dense_formula():
    """n_pos + n_neg < d uses the low-rank route; compare with scipy sqrtm on the formula."""
    pos, neg = two_classes(9, 7, 24, seed=8)
    reg = 1e-2
    A, b = bures_map(neg, pos, reg)
    xs, xt = neg.double().numpy(), pos.double().numpy()
    Cs = np.cov(xs.T, bias=True) + reg * np.eye(24)
    Ct = np.cov(xt.T, bias=True) + reg * np.eye(24)
    Cs12 = sqrtm(Cs).real
    Cs12inv = np.linalg.inv(Cs12)
    A_ref = Cs12inv @ sqrtm(Cs12 @ Ct @ Cs12).real @ Cs12inv
    np.testing.assert_allclose(A.numpy(), A_ref, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), xt.mean(0) - xs.mean(0) @ A_ref, atol=1e-6)
    # and the dense route (enough samples) agrees with the same reference
    pos2, neg2 = two_classes(40, 50, 24, seed=9)
    A2, _ = bures_map(neg2, pos2, reg)
    xs, xt = neg2.double().numpy(), pos2.double().numpy()
    Cs = np.cov(xs.T, bias=True) + reg * np.eye(24)
    Ct = np.cov(xt.T, bias=True) + reg * np.eye(24)
    Cs12 = sqrtm(Cs).real
    Cs12inv = np.linalg.inv(Cs12)
    np.testing.assert_allclose(A2.numpy(), Cs12inv @ sqrtm(Cs12 @ Ct @ Cs12).real @ Cs12inv, atol=1e-6)


def test_mimic_transports_predicted_negatives_only_and_never_nans_in_float32():
    pos, neg = two_classes(300, 260, 64, seed=10, sep=2.0)
    st = get_steerer("MiMiC").fit(pos.float(), neg.float())
    out = st.steer(neg, 1.0)
    assert bool(torch.isfinite(out).all())
    # Transported negatives take on the positive mean (T=1 is the full affine map).
    predicted_neg = (neg @ st.state["probe_coef"] + st.state["probe_intercept"]) <= 0
    assert predicted_neg.float().mean() > 0.9
    moved = out[predicted_neg].double()
    assert float((moved.mean(0) - pos.double().mean(0)).norm()) < 0.25 * float(
        (neg.double().mean(0) - pos.double().mean(0)).norm())
    # Rows predicted positive are untouched; T interpolates.
    pos_out = st.steer(pos, 1.0)
    kept = (pos @ st.state["probe_coef"] + st.state["probe_intercept"]) > 0
    assert torch.equal(pos_out[kept], pos[kept])
    half = st.steer(neg, 0.5)
    torch.testing.assert_close(half[predicted_neg], (neg + 0.5 * (out - neg))[predicted_neg])


def test_mimic_float32_high_dimension_is_finite():
    """d=1024 float32 with n << d (the regime where the paper's code produced NaN)."""
    g = torch.Generator().manual_seed(11)
    base = torch.randn(1024, generator=g) * 20
    pos = (base + torch.randn(150, 1024, generator=g) * 0.01 + 1.0).float()
    neg = (base + torch.randn(170, 1024, generator=g) * 0.01).float()
    st = get_steerer("MiMiC").fit(pos, neg)
    assert bool(torch.isfinite(st.state["A"]).all())
    assert bool(torch.isfinite(st.steer(neg, 1.0)).all())


def test_repe_iterative_route_matches_pca_at_larger_d():
    """min(k, d) > 64 takes the Lanczos route; it must give the same first principal axis."""
    pos, neg = two_classes(150, 130, 96, seed=12)
    v = get_steerer("RepE").fit(pos, neg).vector.double().numpy()
    diff = (pos[:130] - neg[:130]).double().numpy()
    ref = PCA(n_components=1, svd_solver="full").fit(diff).components_[0]
    assert abs(abs(v @ ref) - 1) < 1e-8
    assert v @ diff.mean(0) > 0
