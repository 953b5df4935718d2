"""The per-alpha cache: adding an alpha computes only that alpha; other settings start afresh."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

import steerbench.strength.crossent as crossent
from steerbench.lm.testing import tiny_lm
from steerbench.stages.strength import strength_crossent, strength_vectors
from steerbench.strength.cache import AlphaCache
from steerbench.strength.grid import alpha_grid, alpha_key, grid_from_config, normalise_alphas

TEXT = " ".join(f"word{i} and then some more text number {i}." for i in range(80))


@pytest.fixture(scope="module")
def tiny_dir(smollm2_dir, tmp_path_factory):
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    lm = tiny_lm("llama", tok, num_layers=3)
    out = tmp_path_factory.mktemp("tiny")
    lm.model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture()
def concept(tmp_path):
    pos, neg, held = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl", tmp_path / "held.txt"
    pos.write_text('{"text": "so happy and glad"}\n{"text": "what a joyful day"}\n')
    neg.write_text('{"text": "the form is filed"}\n{"text": "a table of oak"}\n')
    held.write_text(TEXT + "\n\n" + TEXT[:200] + "\n")
    return pos, neg, held


def test_adding_an_alpha_computes_only_it(tiny_dir, concept, tmp_path, monkeypatch):
    pos, neg, held = concept
    vectors = tmp_path / "v.safetensors"
    strength_vectors(tiny_dir, pos, neg, [0, 1], vectors, device="cpu")
    calls = []
    real = crossent.nll_per_alpha

    def counting(lm, windows, layer, steerer, alphas, batch_size=64):
        calls.append(list(alphas))
        return real(lm, windows, layer, steerer, alphas, batch_size)

    monkeypatch.setattr(crossent, "nll_per_alpha", counting)
    cache, out = tmp_path / "cache.pt", tmp_path / "ce.csv"
    run = lambda alphas, layer=1, cache=cache: strength_crossent(tiny_dir, vectors, held, layer, {"steerer": "CAA"}, alphas, cache, out,
                                                                  max_windows=3, device="cpu")
    run([-4.0, 4.0])
    first = pd.read_csv(out)
    run([-4.0, 2.0, 4.0])
    second = pd.read_csv(out)
    assert calls == [[-4.0, 0.0, 4.0], [2.0]]
    # Cached rows are the same numbers; the new alpha is there too.
    merged = second.set_index("alpha").loc[first["alpha"]]
    assert list(merged["cross_entropy"]) == list(first["cross_entropy"])
    assert sorted(second["alpha"]) == [-4.0, 0.0, 2.0, 4.0]
    assert second.loc[second["alpha"] == 0.0, "delta_ce"].item() == 0.0
    # A cached value equals a fresh computation.
    fresh = tmp_path / "fresh.pt"
    run([2.0], cache=fresh)
    assert pd.read_csv(out).set_index("alpha").loc[2.0, "cross_entropy"] == pytest.approx(second.set_index("alpha").loc[2.0, "cross_entropy"], rel=1e-6)
    # Another layer has its own settings: a different cache file computes it in full.
    calls.clear()
    run([2.0], layer=0, cache=tmp_path / "l0.pt")
    assert calls == [[0.0, 2.0]]


def test_changed_settings_start_afresh(tmp_path):
    path = tmp_path / "c.pt"
    c = AlphaCache(path, {"data": [1, 2]})
    c.put({1.0: {"x": torch.tensor([1.0])}})
    assert AlphaCache(path, {"data": [1, 2]}).missing([0.0, 1.0]) == [0.0]
    assert AlphaCache(path, {"data": [1, 3]}).missing([0.0, 1.0]) == [0.0, 1.0]


def test_grid():
    g = alpha_grid(-200, 200, 1024)
    assert len(g) == 1025 and g[0] == -200 and g[-1] == 200 and 0.0 in g
    assert normalise_alphas([3, -0.0, 3.0, 1]) == [0.0, 1.0, 3.0]
    assert alpha_key(-0.0) == alpha_key(0) and alpha_key(0.1) == alpha_key(0.1000)
    assert grid_from_config({"start": -2, "stop": 2, "steps": 5}) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="finite"):
        normalise_alphas([float("nan")])
    with pytest.raises(ValueError, match="unknown keys"):
        grid_from_config({"begin": 0})
