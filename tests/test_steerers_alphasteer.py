"""AlphaSteer and Dynamic AlphaSteer: the null-space property, the ridge solve, the gate, save/load, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from steerbench.steerers import get_steerer, load_steerer
from steerbench.steerers.alphasteer import AlphaSteer, DynamicAlphaSteer, null_space_basis

D, K = 32, 12  # benign states live (up to noise) in a K-dim subspace of R^D


@pytest.fixture(scope="module")
def data():
    """Benign rows in span(B) plus tiny noise; harmful rows also have a large part outside it;
    borderline rows lie between the two."""
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))[0].float()
    B, C = basis[:, :K], basis[:, K:]  # benign span and its complement
    benign = torch.randn(300, K, generator=g) @ B.T * 3 + 0.01 * torch.randn(300, D, generator=g)
    off = torch.randn(D - K, generator=g)
    harmful = (torch.randn(200, K, generator=g) @ B.T * 3
               + (off + 0.5 * torch.randn(200, D - K, generator=g)) @ C.T)
    borderline = (torch.randn(100, K, generator=g) @ B.T * 3
                  + (0.5 * off + 0.5 * torch.randn(100, D - K, generator=g)) @ C.T)
    return harmful, benign, borderline


def moved(st, h, T=1.0):
    return (st.steer(h, T) - h).norm(dim=-1)


def test_null_space_leaves_benign_and_moves_harmful_along_r(data):
    harmful, benign, _ = data
    st = AlphaSteer(ratio=0.5).fit(harmful, benign)
    # Benign activations move by under 1% of what harmful ones do.
    assert moved(st, benign).mean() < 0.01 * moved(st, harmful).mean()
    # Harmful ones move along r = mean(harmful) - mean(benign), forwards, about |r| each.
    r = harmful.mean(0) - benign.mean(0)
    torch.testing.assert_close(st.state["r"], r, rtol=1e-5, atol=1e-5)
    shift = st.steer(harmful, 1.0) - harmful
    cos = torch.nn.functional.cosine_similarity(shift, r.expand_as(shift), dim=-1)
    coef = harmful @ st.state["u"]
    assert torch.allclose(cos[coef > 0], torch.ones(()), atol=1e-4)
    assert 0.7 < float(coef.mean()) < 1.3  # the regression target: h_harmful @ Delta ~ r
    # CAA moves benign states as much as harmful ones: the null space is what makes the difference.
    caa = get_steerer("CAA").fit(harmful, benign)
    assert moved(caa, benign).mean() == pytest.approx(moved(caa, harmful).mean())


def test_rank_one_form_equals_the_literal_ridge_formula(data):
    harmful, benign, borderline = data
    st = AlphaSteer(ratio=0.4, lam=10.0).fit(harmful, benign, {"borderline": borderline})
    f64 = torch.float64
    Hb = torch.cat([benign, borderline]).to(f64)
    evals, evecs = torch.linalg.eigh(Hb.T @ Hb)
    Q = evecs[:, : math.floor(0.4 * D)]
    P = Q @ Q.T
    X = harmful.to(f64) @ P
    r = (harmful.to(f64).mean(0) - benign.to(f64).mean(0))
    R = r.expand(X.shape[0], -1)
    delta = P @ torch.linalg.pinv(X.T @ X + 10.0 * P.T @ P) @ X.T @ R
    torch.testing.assert_close(st.matrix.to(f64), delta, rtol=1e-4, atol=1e-6)
    h = harmful[:5]
    torch.testing.assert_close(st.steer(h, 0.7), h + 0.7 * h @ delta.float(), rtol=1e-4, atol=1e-5)


def test_null_space_basis_takes_the_smallest_eigenvalues():
    g = torch.Generator().manual_seed(1)
    H = torch.randn(100, 10, generator=g) * torch.arange(1, 11)  # variance grows with the column
    Q = null_space_basis(H, 0.3)
    assert Q.shape == (10, 3)
    # The three least-used directions are the first three coordinate axes (up to sign/rotation).
    assert float((Q[:3] ** 2).sum()) > 2.9


def test_gate_separates_the_classes_and_scales_the_edit(data):
    harmful, benign, borderline = data
    st = DynamicAlphaSteer(ratio=0.5, epochs=20).fit(harmful, benign, {"borderline": borderline}, seed=3)
    g_h, g_b, g_m = st.gate(harmful), st.gate(benign), st.gate(borderline)
    assert float((g_h > 0.5).float().mean()) > 0.95 and float((g_b < 0.5).float().mean()) > 0.95
    assert float(g_b.mean()) < float(g_m.mean()) < float(g_h.mean())  # borderline in between
    plain = AlphaSteer(ratio=0.5).fit(harmful, benign, {"borderline": borderline})
    torch.testing.assert_close(st.state["u"], plain.state["u"])
    h = harmful[:4]
    torch.testing.assert_close(st.steer(h, 2.0) - h, (plain.steer(h, 2.0) - h) * g_h[:4, None], rtol=1e-4, atol=1e-5)


def test_gate_training_is_deterministic_per_seed(data):
    harmful, benign, borderline = data
    kw = dict(ratio=0.5, epochs=3)
    a = DynamicAlphaSteer(**kw).fit(harmful, benign, {"borderline": borderline}, seed=7)
    b = DynamicAlphaSteer(**kw).fit(harmful, benign, {"borderline": borderline}, seed=7)
    c = DynamicAlphaSteer(**kw).fit(harmful, benign, {"borderline": borderline}, seed=8)
    assert torch.equal(a.state["w1"], b.state["w1"]) and torch.equal(a.gate(harmful), b.gate(harmful))
    assert not torch.equal(a.state["w1"], c.state["w1"])


@pytest.mark.parametrize("name", ["AlphaSteer", "DynamicAlphaSteer"])
def test_save_load_roundtrip_and_steer_contract(tmp_path, data, name):
    harmful, benign, borderline = data
    hp = {"ratio": 0.5} if name == "AlphaSteer" else {"ratio": 0.5, "epochs": 2}
    st = get_steerer(name, **hp).fit(harmful, benign, {"borderline": borderline, "other": harmful}, seed=1)
    assert st.positions == "prompt" and st.accepts == ("borderline",)
    st.save(tmp_path / "s.safetensors")
    back = load_steerer(tmp_path / "s.safetensors")
    assert type(back) is type(st) and back.hyperparams == st.hyperparams
    h = harmful[:6].reshape(2, 3, D)
    torch.testing.assert_close(back.steer(h, 1.5), st.steer(h, 1.5))
    assert st.steer(h, 0.0) is h
    for dtype in (torch.float32, torch.bfloat16):
        out = st.steer(h.to(dtype), 1.5)
        assert out.shape == h.shape and out.dtype == dtype


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5, "0.5", True])
def test_ratio_outside_open_unit_interval_is_rejected(ratio):
    with pytest.raises(ValueError, match=r"ratio must be a number in \(0, 1\)"):
        AlphaSteer(ratio=ratio)
    with pytest.raises(ValueError, match="bad hyperparameters|ratio must be"):
        get_steerer("DynamicAlphaSteer", ratio=ratio)


def test_bad_fit_input_writes_nothing(tmp_path, data):
    harmful, benign, _ = data
    with pytest.raises(ValueError, match="has 0 sample"):
        AlphaSteer().fit(harmful[:0], benign)
    with pytest.raises(ValueError, match="d=32 but `neg` has d=31"):
        AlphaSteer().fit(harmful, benign[:, :31])
    with pytest.raises(ValueError, match="borderline"):
        AlphaSteer().fit(harmful, benign, {"borderline": benign[:, :5]})
    with pytest.raises(ValueError, match="keeps floor"):
        AlphaSteer(ratio=0.01).fit(harmful, benign)
    unfitted = AlphaSteer()
    with pytest.raises(ValueError, match="before fit"):
        unfitted.save(tmp_path / "x.safetensors")
    assert not any(tmp_path.iterdir())
