"""The paper's learned baselines (HPR, RE-Control, TruthFlow) on synthetic activations:
the properties each method promises, save/load, seeded determinism, missing extras."""

from __future__ import annotations

import math

import pytest
import torch

from steerbench.steerers import get_steerer, load_steerer, steerer_source_files
from steerbench.steerers.hpr import HPRNet, rotate_towards_reflection
from steerbench.steerers.recontrol import value_and_grad


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny networks: thread hand-offs cost more than the math on a shared machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def grouped_data(d=24, n_groups=30, per=2, seed=0, q_scale=2.0, couple=0.5):
    """Each question has `per` correct and `per` incorrect answers around a question centre q
    (its query state): correct ones at q + shift, incorrect at q - shift, shift = w + couple * A q,
    so the per-question correction (mean pos - mean neg = 2 shift) depends on q through a fixed
    linear map. Small q and no coupling: a bias-free probe along w separates the classes."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    A = torch.randn(d, d, generator=g) / math.sqrt(d)
    q = q_scale * torch.randn(n_groups, d, generator=g)
    pos, neg, pg, ng = [], [], [], []
    for i in range(n_groups):
        shift = w + couple * (A @ q[i])
        for _ in range(per):
            pos.append(q[i] + shift + 0.2 * torch.randn(d, generator=g))
            neg.append(q[i] - shift + 0.2 * torch.randn(d, generator=g))
            pg.append(i)
            ng.append(i)
    extra = {"pos_group": torch.tensor(pg), "neg_group": torch.tensor(ng), "queries": q}
    return torch.stack(pos), torch.stack(neg), extra


def trajectories(d=16, n_ep=24, length=5, seed=0):
    """Trajectories whose final reward is a smooth function of the states (u . s)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(d, generator=g)
    states, rewards, episode, step = [], [], [], []
    for e in range(n_ep):
        s = torch.randn(length, d, generator=g)
        r = float(s[-1] @ u) / math.sqrt(d)
        states.append(s)
        rewards += [r] * length
        episode += [e] * length
        step += list(range(length))
    return {"traj_states": torch.cat(states), "traj_rewards": torch.tensor(rewards),
            "traj_episode": torch.tensor(episode), "traj_step": torch.tensor(step)}


FAST = {
    "HPR": dict(epochs=15, lr=1e-2, device="cpu"),
    "RE-Control": dict(epochs=20, batch_size=8, device="cpu", n_steps=5, step=0.1),
    "TruthFlow": dict(epochs=30, batch_size=16, depth=2, warmup_steps=5, lr=1e-3, k=4, ode_points=5, device="cpu"),
}


def fit(name, seed=0, **over):
    pos, neg, extra = grouped_data(q_scale=0.5, couple=0.0) if name == "HPR" else grouped_data()
    extra = {**extra, **trajectories(d=pos.shape[1])}
    return get_steerer(name, **{**FAST[name], **over}).fit(pos, neg, extra, seed=seed), pos, neg


# ---------------------------------------------------------------------------- HPR


def test_hpr_rotation_matches_the_official_formula_and_keeps_the_norm():
    g = torch.Generator().manual_seed(1)
    # float64: the official quotient form loses digits where sin(gamma2) is small.
    w = torch.randn(12, generator=g, dtype=torch.float64)
    a = torch.randn(50, 12, generator=g, dtype=torch.float64)
    a = torch.where((a @ w < 0).unsqueeze(-1), a, -a)  # all on the negative side
    gamma1 = torch.rand(50, generator=g, dtype=torch.float64) * 2.5
    Ha = a - 2 * (a @ w).unsqueeze(-1) * w / (w @ w)
    cos = (a * Ha).sum(-1) / (a.norm(dim=-1) * Ha.norm(dim=-1))
    gamma2 = torch.arccos(cos.clamp(-1, 1))
    official = (torch.sin(gamma1).unsqueeze(-1) * Ha + torch.sin(gamma2 - gamma1).unsqueeze(-1) * a) \
        / torch.sin(gamma2).unsqueeze(-1)
    ours = rotate_towards_reflection(a, w, gamma1)
    torch.testing.assert_close(ours, official)
    torch.testing.assert_close(ours.norm(dim=-1), a.norm(dim=-1))
    # Rotating by the full reflection angle lands on the reflection itself.
    torch.testing.assert_close(rotate_towards_reflection(a, w, gamma2), Ha)


def test_hpr_keeps_positives_rotates_negatives_to_the_positive_side_and_keeps_norms():
    hpr, pos, neg = fit("HPR")
    x = torch.cat([pos, neg])
    score = hpr.probe_logit(x)
    assert (score[: len(pos)] >= 0).float().mean() > 0.9 and (score[len(pos):] < 0).float().mean() > 0.9
    out = hpr.steer(x, 1.0)
    kept = score >= 0
    assert torch.equal(out[kept], x[kept])  # probe-positive rows untouched, bit for bit
    moved = ~kept
    assert not torch.allclose(out[moved], x[moved])
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=1e-4)
    # The trained angle carries the negatives across the probe's hyperplane.
    assert (hpr.probe_logit(out[moved]) > 0).float().mean() > 0.9
    # T scales the angle: a small T rotates less (smaller move) than T = 1.
    small = hpr.steer(x, 0.2)
    assert ((small[moved] - x[moved]).norm(dim=-1) < (out[moved] - x[moved]).norm(dim=-1)).all()


def test_hpr_angle_network_shape_is_d_half_quarter_eighth():
    net = HPRNet(64, 4)
    widths = [m.out_features for m in net.angle if isinstance(m, torch.nn.Linear)]
    assert widths == [32, 16, 8, 1] and net.probe.bias is None


# ---------------------------------------------------------------------- RE-Control


def test_recontrol_closed_form_gradient_equals_autograd():
    rc, _, _ = fit("RE-Control")
    s = rc._tensors(torch.device("cpu"), torch.float64)
    x = trajectories(d=rc.d, seed=3)["traj_states"].double().requires_grad_()
    value, grad = value_and_grad(s, x)
    (auto,) = torch.autograd.grad(value.sum(), x)
    torch.testing.assert_close(grad, auto)


def test_recontrol_ascent_increases_value_monotonically_for_small_steps():
    rc, _, _ = fit("RE-Control", step=0.01, n_steps=1)
    x = trajectories(d=rc.d, seed=5)["traj_states"]
    values = [rc.value(x)]
    for _ in range(10):
        x = rc.steer(x, 1.0)
        values.append(rc.value(x))
    v = torch.stack(values)
    assert (v[1:] >= v[:-1] - 1e-6).all()
    assert (v[-1] > v[0]).float().mean() > 0.9  # flat (dead ReLU) rows stay put, the rest climb


def test_recontrol_learns_the_final_reward():
    data = trajectories(d=16, n_ep=40)
    rc = get_steerer("RE-Control", epochs=150, batch_size=8, device="cpu").fit(
        torch.randn(4, 16), torch.randn(4, 16), data, seed=0)
    last = torch.arange(4, len(data["traj_states"]), 5)
    pred = rc.value(data["traj_states"][last])
    target = data["traj_rewards"][last]
    assert torch.corrcoef(torch.stack([pred, target]))[0, 1] > 0.8


# ----------------------------------------------------------------------- TruthFlow


def test_truthflow_maps_training_queries_near_their_targets():
    pos, neg, extra = grouped_data(d=24, n_groups=40)
    # Full batches and the lr annealed to 0 (min_lr_scale=0): a converged flow in seconds.
    tf = get_steerer("TruthFlow", epochs=400, batch_size=40, depth=2, warmup_steps=10, lr=1e-2, min_lr_scale=0.0,
                     device="cpu").fit(pos, neg, extra, seed=0)
    x1 = torch.stack([pos[2 * i:2 * i + 2].mean(0) - neg[2 * i:2 * i + 2].mean(0) for i in range(40)])
    end = tf.transport(extra["queries"])
    err = (end - x1).norm(dim=-1)
    # Far better than not moving, and better than one shared correction for every question.
    assert (err / (x1 - extra["queries"]).norm(dim=-1)).mean() < 0.25
    assert err.mean() < 0.4 * (x1 - x1.mean(0)).norm(dim=-1).mean()


def test_truthflow_adds_T_times_the_projected_correction():
    tf, pos, neg = fit("TruthFlow")
    q = grouped_data()[2]["queries"][:5]
    basis = tf.state["basis"]
    assert basis.shape == (4, tf.d)
    torch.testing.assert_close(basis @ basis.T, torch.eye(4), atol=1e-5, rtol=0)
    delta = (tf.steer(q, 2.0) - q)
    torch.testing.assert_close(delta, 2.0 * (tf.transport(q) @ basis.T) @ basis, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(delta @ basis.T @ basis, delta, atol=1e-5, rtol=1e-5)  # inside the subspace


# ------------------------------------------------------------------------- common


@pytest.mark.parametrize("name", ["HPR", "RE-Control", "TruthFlow"])
def test_save_load_round_trip_gives_identical_steering(name, tmp_path):
    s, pos, neg = fit(name)
    path = tmp_path / f"{name}.safetensors"
    s.save(path)
    loaded = load_steerer(path)
    assert type(loaded) is type(s) and loaded.hyperparams == s.hyperparams
    x = torch.cat([pos[:6], neg[:6]])
    want = s.steer(x, 1.0)
    assert torch.equal(loaded.steer(x, 1.0), want)
    with torch.inference_mode():  # how the LM runtime calls steer
        assert torch.equal(loaded.steer(x, 1.0), want)
    assert loaded.metadata()["training"] == s.metadata()["training"]


@pytest.mark.parametrize("name", ["HPR", "RE-Control", "TruthFlow"])
def test_training_is_deterministic_for_a_seed(name):
    a, _, _ = fit(name, seed=3)
    b, _, _ = fit(name, seed=3)
    c, _, _ = fit(name, seed=4)
    assert a.state.keys() == b.state.keys()
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert any(not torch.equal(a.state[k], c.state[k]) for k in a.state if a.state[k].is_floating_point())


@pytest.mark.parametrize("name,missing", [("HPR", "neg_group"), ("RE-Control", "traj_rewards"),
                                          ("TruthFlow", "queries")])
def test_missing_extra_fit_data_is_a_clear_error(name, missing):
    pos, neg, extra = grouped_data()
    extra = {**extra, **trajectories(d=pos.shape[1])}
    del extra[missing]
    with pytest.raises(ValueError, match=missing):
        get_steerer(name, **FAST[name]).fit(pos, neg, extra)


def test_group_ids_that_do_not_match_the_rows_are_a_clear_error():
    pos, neg, extra = grouped_data()
    extra["pos_group"] = extra["pos_group"][:-1]
    with pytest.raises(ValueError, match="pos_group.*same split"):
        get_steerer("HPR", **FAST["HPR"]).fit(pos, neg, extra)
    pos, neg, extra = grouped_data()
    extra["queries"] = extra["queries"][:5]
    with pytest.raises(ValueError, match="queries` has only 5 rows"):
        get_steerer("TruthFlow", **FAST["TruthFlow"]).fit(pos, neg, extra)


def test_trajectory_rewards_must_be_constant_per_episode():
    data = trajectories()
    data["traj_rewards"][1] += 1.0
    with pytest.raises(ValueError, match="differ within a trajectory"):
        get_steerer("RE-Control", **FAST["RE-Control"]).fit(torch.randn(3, 16), torch.randn(3, 16), data)


def test_bad_hyperparameters_and_registration():
    with pytest.raises(ValueError, match="epochs"):
        get_steerer("HPR", epochs=0)
    with pytest.raises(ValueError, match="depth"):
        pos, neg, extra = grouped_data(d=8)
        get_steerer("TruthFlow", depth=4, device="cpu").fit(pos, neg, extra)
    for name, module in (("HPR", "hpr.py"), ("RE-Control", "recontrol.py"), ("TruthFlow", "truthflow.py")):
        names = [p.name for p in steerer_source_files(name)]
        assert module in names and "training.py" in names
