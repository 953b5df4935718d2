"""The sigmoid fit of concept presence, and the judge's score on the real small model."""

from __future__ import annotations

import numpy as np
import pytest

from steerbench.strength.presence import fit_sigmoid, sigmoid


def test_sigmoid_fit_recovers_midpoint():
    alphas = np.linspace(-20, 20, 17)
    y = sigmoid(alphas, 0.1, 0.9, 0.5, 4.0) + np.random.default_rng(0).normal(0, 0.01, alphas.size)
    fit = fit_sigmoid(alphas.tolist(), y.tolist())
    assert fit["ok"] and fit["midpoint_in_grid"]
    assert fit["midpoint"] == pytest.approx(4.0, abs=0.5)
    assert fit["lo"] == pytest.approx(0.1, abs=0.05) and fit["hi"] == pytest.approx(0.9, abs=0.05)


def test_too_few_points_is_reported():
    assert fit_sigmoid([0, 1, 2], [0.1, 0.5, 0.9]) == {"ok": False, "reason": "3 points, a sigmoid needs at least 4"}


def test_judge_scores_are_probabilities(smollm2_dir):
    from steerbench.lm import load_model
    from steerbench.strength.presence import judge_presence

    lm = load_model(smollm2_dir, dtype="float32", device="cpu")
    scores = judge_presence(lm, ["I am so happy, what a joyful wonderful day!", "The form has three fields."], "joy")
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
