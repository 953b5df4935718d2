"""The steerer interface every method shares: registry, steer contract, save/load, bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch

from steerbench.steerers import (
    available_steerers,
    get_steerer,
    load_steerer,
    steerer_source_files,
)

ALL = ["NoSteer", "CAA", "RepE", "ITI", "MiMiC", "LinAcT", "ODESteer", "StepODESteer", "RFFODESteer",
       "AlphaSteer", "DynamicAlphaSteer"]
# Fitted on extra data besides pos/neg (tests/test_steerers_learned.py covers them).
NEEDS_EXTRAS = ["HPR", "RE-Control", "TruthFlow"]
D = 24
SMALL = {"ODESteer": {"n_components": 256}, "StepODESteer": {"n_components": 256},
         "RFFODESteer": {"n_components": 256}}


def make(name: str, **extra):
    return get_steerer(name, **{**SMALL.get(name, {}), **extra})


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(D, generator=g)
    pos = torch.randn(70, D, generator=g) + 0.8 * direction
    neg = torch.randn(55, D, generator=g) - 0.8 * direction  # unequal class sizes
    return pos, neg


@pytest.fixture(scope="module")
def fitted(data):
    pos, neg = data
    return {name: make(name).fit(pos, neg) for name in ALL}


def test_registry_lists_every_method_and_rejects_unknown_names():
    assert sorted(available_steerers()) == sorted(ALL + NEEDS_EXTRAS)
    assert all(get_steerer(name).requires for name in NEEDS_EXTRAS)
    with pytest.raises(ValueError, match="known steerers: NoSteer, CAA"):
        get_steerer("Caa")
    with pytest.raises(ValueError, match="bad hyperparameters for steerer 'CAA'"):
        get_steerer("CAA", strength=2)
    with pytest.raises(ValueError, match="unknown solver 'heun'"):
        get_steerer("ODESteer", solver="heun")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        get_steerer("ODESteer", steps=0)


def test_source_files_name_own_module_and_shared_bases_only():
    ode = {p.name for p in steerer_source_files("ODESteer")}
    assert ode == {"base.py", "ode.py", "sketch.py", "logistic.py"}
    assert {p.name for p in steerer_source_files("CAA")} == {"base.py", "caa.py", "vector.py"}
    assert "rff.py" in {p.name for p in steerer_source_files("RFFODESteer")}
    for name in ALL:
        files = steerer_source_files(name)
        assert all(p.is_file() and p.suffix == ".py" for p in files), name
    with pytest.raises(ValueError, match="unknown steerer"):
        steerer_source_files("Nope")


def test_defaults_are_the_papers():
    ode = get_steerer("ODESteer")
    assert ode.hyperparams == {"degree": 2, "n_components": 8000, "gamma": 0.1, "coef0": 1.0, "solver": "euler",
                               "steps": 10, "C": 1.0, "max_iter": 1000}
    assert get_steerer("MiMiC").hyperparams["reg"] == 1e-2


@pytest.mark.parametrize("name", ALL)
def test_steer_keeps_shape_dtype_and_T0_is_identity(fitted, data, name):
    st = fitted[name]
    h = data[1][:6].reshape(2, 3, D)
    assert st.steer(h, 0.0) is h
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = h.to(dtype)
        out = st.steer(x, 1.5)
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        assert bool(torch.isfinite(out.float()).all())
    if name != "NoSteer":
        assert not torch.equal(st.steer(h, 1.5), h), "a fitted steerer must move negatives"
    else:
        assert torch.equal(st.steer(h, 3.0), h)


@pytest.mark.parametrize("name", ALL)
def test_batch_invariance(fitted, data, name):
    st = fitted[name]
    h = torch.cat([data[0][:4], data[1][:4]]).double()
    together = st.steer(h, 2.0)
    alone = torch.cat([st.steer(h[i : i + 1], 2.0) for i in range(len(h))])
    torch.testing.assert_close(together, alone, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_is_exact(fitted, data, tmp_path, name):
    st = fitted[name]
    path = tmp_path / "sub" / f"{name}.safetensors"
    st.save(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["method"] == name and meta["d"] == D and (meta["n_pos"], meta["n_neg"]) == (70, 55)
    assert meta["hyperparameters"] == st.hyperparams and meta["steerbench_version"]
    loaded = load_steerer(path)
    assert type(loaded) is type(st) and loaded.hyperparams == st.hyperparams
    h = data[1][:5]
    assert torch.equal(loaded.steer(h, 2.5), st.steer(h, 2.5))
    assert not list(path.parent.glob("*.tmp")), "atomic writes leave no temp files"


def test_load_errors_name_the_file(tmp_path, fitted):
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_steerer(tmp_path / "missing.safetensors")
    path = tmp_path / "x.safetensors"
    fitted["CAA"].save(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match="x.json: not a steerer metadata file"):
        load_steerer(path)
    with pytest.raises(ValueError, match="must end in .safetensors"):
        fitted["CAA"].save(tmp_path / "x.pt")


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs_raise_clear_errors(data, name):
    pos, neg = data
    st = make(name)
    with pytest.raises(ValueError, match="before fit"):
        st.steer(pos[:2], 1.0)
    bad = pos.clone()
    bad[3, 5] = math.nan
    with pytest.raises(ValueError, match=r"`pos` contains NaN or inf in 1 row"):
        make(name).fit(bad, neg)
    bad = neg.clone()
    bad[0, 0] = math.inf
    with pytest.raises(ValueError, match=r"`neg` contains NaN or inf"):
        make(name).fit(pos, bad)
    with pytest.raises(ValueError, match="pos` has d=24 but `neg` has d=23"):
        make(name).fit(pos, neg[:, :-1])
    with pytest.raises(ValueError, match="`neg` has 1 sample"):
        make(name).fit(pos, neg[:1])
    with pytest.raises(ValueError, match="must be 2-D"):
        make(name).fit(pos[0], neg)
    fitted = make(name).fit(pos, neg)
    with pytest.raises(ValueError, match="fitted with d=24"):
        fitted.steer(torch.zeros(3, D + 1), 1.0)
    with pytest.raises(ValueError, match="not a finite number"):
        fitted.steer(pos[:2], math.nan)


def test_degenerate_data_still_fits():
    """A class of rank < d with duplicated rows (and n < d) must fit and steer finitely."""
    g = torch.Generator().manual_seed(1)
    d = 40
    basis = torch.randn(3, d, generator=g)
    pos = (torch.randn(10, 3, generator=g) @ basis + 2.0).repeat(2, 1)  # rank 3, duplicates
    neg = torch.randn(12, 3, generator=g) @ basis
    for name in ALL:
        st = make(name).fit(pos, neg)
        out = st.steer(neg, 1.0)
        assert bool(torch.isfinite(out).all()), name


def test_seed_is_given_to_fit_and_recorded(data, tmp_path):
    pos, neg = data
    a = get_steerer("ODESteer", n_components=256).fit(pos, neg, seed=5)
    b = get_steerer("ODESteer", n_components=256, seed=5).fit(pos, neg, seed=9)
    c = get_steerer("ODESteer", n_components=256).fit(pos, neg, seed=6)
    assert torch.equal(a.state["hash_index"], b.state["hash_index"])  # the hyperparameter wins
    assert not torch.equal(a.state["hash_index"], c.state["hash_index"])
    a.save(tmp_path / "a.safetensors")
    assert load_steerer(tmp_path / "a.safetensors").fit_seed == 5


def test_extra_fit_data_required_and_ignored(data):
    pos, neg = data

    class NeedsPairs(get_steerer("CAA").__class__):
        requires = ("pair_index",)

        def _fit(self, pos, neg, pair_index):
            super()._fit(pos, neg)
            self.state["pairs"] = pair_index

    with pytest.raises(ValueError, match=r"needs extra fit data \['pair_index'\]"):
        NeedsPairs().fit(pos, neg)
    st = NeedsPairs().fit(pos, neg, {"pair_index": torch.arange(3), "unused": torch.zeros(1)})
    assert torch.equal(st.state["pairs"], torch.arange(3))
    get_steerer("CAA").fit(pos, neg, {"borderline": pos[:2]})  # others ignore extras
