"""ODESteer, StepODESteer, RFFODESteer: the sketch, the analytic field, the integrators."""

from __future__ import annotations

import pytest
import torch

from steerbench.steerers import get_steerer, sketch
from steerbench.steerers.ode import integrate

D_IN = 20


def quadratic_classes(n_pos: int, n_neg: int, d: int = D_IN, seed: int = 0):
    """Classes that differ in spread and location: the log density ratio is not linear."""
    g = torch.Generator().manual_seed(seed)
    center = torch.randn(d, generator=g) * 2
    pos = center + 0.5 * torch.randn(n_pos, d, generator=g) + 1.5
    neg = center + 1.5 * torch.randn(n_neg, d, generator=g)
    return pos.double(), neg.double()


@pytest.fixture(scope="module")
def ode():
    pos, neg = quadratic_classes(200, 240)
    return get_steerer("ODESteer", n_components=1024, seed=3).fit(pos, neg), pos, neg


def sketch_state(d: int, D: int, seed: int, dtype=torch.float64):
    index, sign = sketch.make_hashes(d + 1, 2, D, seed)
    table, tsign = sketch.gather_tables(index, sign, D)
    return {"hash_index": index, "hash_sign": sign.to(dtype), "table": table, "table_sign": tsign.to(dtype)}


def test_count_sketch_approximates_the_polynomial_kernel():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 30, generator=g, dtype=torch.float64)
    x, y = x / x.norm(), y / y.norm()
    gamma, coef0 = 0.1, 1.0
    exact = (gamma * float(x @ y) + coef0) ** 2
    vals = []
    for seed in range(300):
        s = sketch.prepare(sketch_state(30, 64, seed), gamma, coef0)
        phi = sketch.features(torch.stack([x, y]), s)
        vals.append(float(phi[0] @ phi[1]))
    mean = sum(vals) / len(vals)
    assert abs(mean - exact) < 0.02 * exact, (mean, exact)
    # a single sketch is not exact (so the average above is informative)
    assert max(abs(v - exact) for v in vals) > 1e-3


def test_sketch_score_is_the_quadratic_form_and_gradient_matches_autograd():
    s = sketch.prepare(sketch_state(25, 128, 1), 0.1, 1.0)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 25, generator=g, dtype=torch.float64)
    w = torch.randn(128, generator=g, dtype=torch.float64)
    M = sketch.quadratic_matrix(w, s["hash_index"], s["hash_sign"])
    xt = sketch.extend(x, 0.1, 1.0)
    torch.testing.assert_close(sketch.features(x, s) @ w, torch.einsum("bi,ij,bj->b", xt, M, xt))
    xr = x.clone().requires_grad_(True)
    (sketch.features(xr, s) @ w).sum().backward()
    torch.testing.assert_close(sketch.score_grad(x, torch.fft.rfft(w), s), xr.grad, rtol=1e-10, atol=1e-10)


def test_gather_route_used_on_cuda_equals_index_add_route(monkeypatch):
    s = sketch.prepare(sketch_state(40, 96, 4), 0.1, 1.0)
    x = torch.randn(5, 40, dtype=torch.float64)
    reference = sketch.count_sketches(x, s)

    class NotCPU:  # route a CPU tensor through the device-agnostic gather branch
        type = "cuda"

    class Wrapped(torch.Tensor):
        @property
        def device(self):
            return NotCPU()

    via_tables = sketch.count_sketches(x.as_subclass(Wrapped), s)
    torch.testing.assert_close(via_tables.as_subclass(torch.Tensor), reference)


@pytest.mark.parametrize("name", ["ODESteer", "RFFODESteer"])
def test_analytic_field_equals_normalised_autograd_gradient(name):
    pos, neg = quadratic_classes(120, 150, seed=5)
    st = get_steerer(name, n_components=512, seed=1).fit(pos, neg)
    x = torch.cat([pos[:5], neg[:5]]) + 0.3
    xr = x.clone().requires_grad_(True)
    st.log_ratio(xr).sum().backward()
    auto = xr.grad / xr.grad.norm(dim=-1, keepdim=True)
    field = st.vector_field(x)
    rel = (field - auto).norm(dim=-1) / auto.norm(dim=-1)
    assert float(rel.max()) < 1e-5


def test_steering_climbs_the_log_ratio_and_moves_negatives_to_positive(ode):
    st, pos, neg = ode
    acc = ((st.decision_function(pos) > 0).float().mean() + (st.decision_function(neg) <= 0).float().mean()) / 2
    assert acc > 0.9
    x = neg[:20]
    prev = st.log_ratio(x)
    for _ in range(5):  # small steps: the log ratio increases monotonically along the path
        x = st.steer(x, 0.05 * float(x.norm(dim=-1).mean()))
        cur = st.log_ratio(x)
        assert bool((cur > prev).all())
        prev = cur
    far = st.steer(neg, 2.0 * float(neg.norm(dim=-1).mean()))
    assert (st.decision_function(far) > 0).float().mean() > 0.9
    assert (st.decision_function(neg) > 0).float().mean() < 0.2


def test_step_odesteer_is_one_euler_step_of_size_T(ode):
    st, pos, neg = ode
    step = get_steerer("StepODESteer", n_components=1024, seed=3).fit(pos, neg)
    torch.testing.assert_close(step.state["coef"], st.state["coef"])  # same classifier
    h = neg[:7]
    torch.testing.assert_close(step.steer(h, 3.0), h + 3.0 * st.vector_field(h))
    one = get_steerer("ODESteer", n_components=1024, seed=3, steps=1)
    one._restore({"d": st.d, "n_pos": st.n_pos, "n_neg": st.n_neg}, dict(st.state))
    torch.testing.assert_close(one.steer(h, 3.0), step.steer(h, 3.0))


def test_ode_steer_is_ten_euler_steps_and_solvers_converge(ode):
    st, pos, neg = ode
    h, T = neg[:4], 4.0
    manual = h.clone()
    for _ in range(10):
        manual = manual + (T / 10) * st.vector_field(manual)
    torch.testing.assert_close(st.steer(h, T), manual)
    # Unit-speed field: each Euler step moves exactly T / steps.
    assert torch.allclose((st.steer(h, T) - h).norm(dim=-1) <= T + 1e-9, torch.tensor(True))
    fine = integrate(st.vector_field, h, T, "rk4", 200)
    errors = {}
    for solver in ("euler", "midpoint", "rk4"):
        other = get_steerer("ODESteer", n_components=1024, seed=3, solver=solver, steps=10)
        other._restore({"d": st.d, "n_pos": st.n_pos, "n_neg": st.n_neg}, dict(st.state))
        errors[solver] = float((other.steer(h, T) - fine).norm())
    assert errors["rk4"] < errors["midpoint"] < errors["euler"]


def test_fitting_is_seeded_and_deterministic():
    pos, neg = quadratic_classes(60, 70, seed=9)
    a = get_steerer("ODESteer", n_components=256, seed=4).fit(pos, neg)
    b = get_steerer("ODESteer", n_components=256, seed=4).fit(pos, neg)
    c = get_steerer("ODESteer", n_components=256, seed=5).fit(pos, neg)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert not torch.equal(a.state["hash_index"], c.state["hash_index"])


def test_zero_and_huge_inputs_give_finite_steps(ode):
    st, pos, neg = ode
    h = torch.stack([torch.zeros(D_IN, dtype=torch.float64), neg[0] * 1e6])
    assert bool(torch.isfinite(st.steer(h, 1.0)).all())


def test_bad_hyperparameters_raise():
    with pytest.raises(ValueError, match="gamma > 0"):
        get_steerer("ODESteer", gamma=0)
    with pytest.raises(ValueError, match="sigma must be 'median' or a positive number"):
        get_steerer("RFFODESteer", sigma="mean")
    with pytest.raises(ValueError, match="C must be > 0"):
        get_steerer("StepODESteer", C=0)


def test_fast_routes_equal_the_reference_routes():
    """The fit-time feature route (spectral basis, cache-sized blocks, worker threads)
    computes `to_spectral(features)` with per-part column sums and sums of squares; the
    fused degree-2 steer-time gradient equals the generic `score_grad`."""
    s = sketch.prepare(sketch_state(30, 96, 5, dtype=torch.float32), 0.1, 1.0)
    g = torch.Generator().manual_seed(6)
    a, b = torch.randn(37, 30, generator=g), torch.randn(29, 30, generator=g)
    ref = sketch.to_spectral(sketch.features(torch.cat([a, b]) * 2, s)).double()
    torch.testing.assert_close(sketch.spectral_features(torch.cat([a, b]) * 2, s).double(), ref,
                               rtol=1e-5, atol=1e-5)
    for workers in (1, 3):
        Z, (sum_a, sum_b), sum_sq = sketch.spectral_features_cpu([a, b], s, transform=lambda x: x * 2,
                                                                 chunk=8, workers=workers)
        assert Z.shape == (66, 2 * (96 // 2 + 1))
        torch.testing.assert_close(Z.double(), ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(sum_a, ref[:37].sum(0), rtol=1e-4, atol=1e-4)  # float32 block sums
        torch.testing.assert_close(sum_b, ref[37:].sum(0), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(sum_sq, ref.square().sum(0), rtol=1e-4, atol=1e-4)
    s64 = sketch.prepare(sketch_state(30, 96, 5), 0.1, 1.0)
    w = torch.randn(96, generator=g, dtype=torch.float64)
    x = torch.randn(7, 30, generator=g, dtype=torch.float64)
    generic = sketch.score_grad(x, torch.fft.rfft(w), {k: v for k, v in s64.items() if k != "grad_index"})
    fused = sketch.score_grad2(x, sketch.prepare_grad2(s64, w))
    torch.testing.assert_close(fused, generic, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(sketch.score_grad(x, torch.fft.rfft(w), s64), generic, rtol=1e-10, atol=1e-10)


def test_fused_gradient_device_route_equals_cpu_route():
    """score_grad2 off CPU builds its sketches by the gather route; same values."""
    s = sketch.prepare(sketch_state(40, 96, 7), 0.1, 1.0)
    w = torch.randn(96, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    sketch.prepare_grad2(s, w)
    x = torch.randn(5, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    reference = sketch.score_grad2(x, s)

    class NotCPU:
        type = "cuda"

    class Wrapped(torch.Tensor):
        @property
        def device(self):
            return NotCPU()

    via_tables = sketch.score_grad2(x.as_subclass(Wrapped), s)
    torch.testing.assert_close(via_tables.as_subclass(torch.Tensor), reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("D", [96, 97])
def test_spectral_basis_is_orthonormal_and_inverted_by_from_spectral(D):
    """to_spectral keeps inner products (the fit in that basis is the fit on the features)
    and from_spectral is its transpose: <U a, v> = <a, U^T v>, U^T U a = a."""
    g = torch.Generator().manual_seed(11)
    a, c = torch.randn(2, D, generator=g, dtype=torch.float64)
    Ua, Uc = sketch.to_spectral(a), sketch.to_spectral(c)
    torch.testing.assert_close(Ua @ Uc, a @ c, rtol=1e-12, atol=1e-12)
    v = torch.randn(Ua.shape[-1], generator=g, dtype=torch.float64)
    v[1] = 0.0  # the imaginary part of bin 0 is not a coordinate (always zero in U a)
    if D % 2 == 0:
        v[-1] = 0.0  # nor that of bin D/2
    torch.testing.assert_close(Ua @ v, a @ sketch.from_spectral(v, D), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sketch.from_spectral(Ua, D), a, rtol=1e-12, atol=1e-12)


def test_odesteer_fit_in_the_spectral_basis_equals_the_fit_on_the_features():
    """The CPU fit (spectral basis, weights mapped back) reaches the classifier that
    logistic regression on the sketch features themselves reaches."""
    from steerbench.steerers.logistic import fit_logistic

    pos, neg = quadratic_classes(150, 170, seed=4)
    st = get_steerer("ODESteer", n_components=256, seed=1).fit(pos.float(), neg.float())
    s = st._tensors(torch.device("cpu"), torch.float32)
    Z = st._features(torch.cat([pos, neg]).float(), s).double()
    y = torch.cat([torch.ones(150), torch.zeros(170)])
    w, b = fit_logistic(Z, y, tol=1e-9)
    torch.testing.assert_close(st.state["coef"].double(), w, rtol=2e-3, atol=2e-3 * float(w.abs().max()))
    assert abs(float(st.state["intercept"]) - float(b)) < 2e-3 * max(1.0, abs(float(b)))


def test_device_fit_route_equals_the_cpu_route(monkeypatch):
    """Off CPU the fit computes its spectral features in row blocks by the device route;
    the classifier is the one the threaded CPU route fits."""
    from steerbench.steerers import ode as ode_mod

    pos, neg = quadratic_classes(120, 100, seed=8)
    cpu = get_steerer("ODESteer", n_components=128, seed=2).fit(pos.float(), neg.float())
    monkeypatch.setattr(ode_mod, "_threaded_cpu_route", lambda x: False)
    dev = get_steerer("ODESteer", n_components=128, seed=2).fit(pos.float(), neg.float())
    scale = float(cpu.state["coef"].abs().max())
    torch.testing.assert_close(dev.state["coef"], cpu.state["coef"], rtol=1e-3, atol=1e-3 * scale)
    torch.testing.assert_close(dev.state["intercept"], cpu.state["intercept"], rtol=1e-3, atol=1e-3)
