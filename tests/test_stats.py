"""Bootstrap CIs, paired tests, win-rates and scorer agreement on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from steerbench import stats


@pytest.mark.parametrize("stat", ["mean", "p90"])
def test_constant_scores_give_zero_width_interval(stat):
    est, lo, hi = stats.bootstrap_ci(np.full(37, 0.42), n_boot=500, seed=1, stat=stat)
    assert est == lo == hi == pytest.approx(0.42, abs=0)


def test_large_sample_ci_covers_true_mean_and_is_narrow():
    x = np.random.default_rng(7).normal(3.0, 1.0, size=5000)
    est, lo, hi = stats.bootstrap_ci(x, n_boot=1000, seed=0)
    assert lo < 3.0 < hi
    # Normal theory: width ~ 2 * 1.96 / sqrt(5000) = 0.055.
    assert 0.04 < hi - lo < 0.07
    assert est == pytest.approx(x.mean())


def test_ci_coverage_is_close_to_nominal():
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(120):
        x = rng.exponential(1.0, size=150)  # skewed, true mean 1
        _, lo, hi = stats.bootstrap_ci(x, n_boot=400, seed=int(rng.integers(1 << 30)))
        hits += lo <= 1.0 <= hi
    assert 0.85 <= hits / 120 <= 0.99


def test_p90_estimate_matches_numpy():
    x = np.arange(101, dtype=float)
    est, lo, hi = stats.bootstrap_ci(x, n_boot=300, seed=0, stat="p90")
    assert est == pytest.approx(90.0)
    assert lo <= 90.0 <= hi


def test_bootstrap_is_seeded():
    x = np.random.default_rng(0).normal(size=40)
    assert stats.bootstrap_ci(x, seed=3) == stats.bootstrap_ci(x, seed=3)
    assert stats.bootstrap_ci(x, seed=3) != stats.bootstrap_ci(x, seed=4)


def test_sign_flip_flags_planted_improvement():
    rng = np.random.default_rng(5)
    ref = rng.normal(size=200)
    x = ref + 0.3 + rng.normal(scale=0.5, size=200)
    assert stats.sign_flip_test(x - ref, n_perm=2000, seed=0) < 0.01


def test_sign_flip_false_positive_rate_under_null_is_near_alpha():
    rng = np.random.default_rng(9)
    p = np.array([stats.sign_flip_test(rng.normal(size=60), n_perm=400, seed=i) for i in range(200)])
    assert np.mean(p < 0.05) <= 0.1
    # And the p-values are spread out, not stuck at one value.
    assert 0.3 < np.median(p) < 0.7


def test_sign_flip_all_zero_differences_is_p_one():
    assert stats.sign_flip_test(np.zeros(10)) == 1.0


def test_paired_bootstrap_p90_flags_improvement_not_null():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=300)
    assert stats.paired_bootstrap_test(ref + 1.0, ref, n_boot=1000, seed=0, stat="p90") < 0.01
    null = ref[rng.permutation(300)]
    assert stats.paired_bootstrap_test(null, ref, n_boot=1000, seed=0, stat="p90") > 0.05


def test_win_scores_count_ties_as_half():
    w = stats.win_scores([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 5.0, 4.0])
    assert w.tolist() == [1.0, 0.5, 0.0, 0.5]


def test_spearman_and_auc_known_values():
    a = np.array([0.1, 0.2, 0.6, 0.9])
    assert stats.spearman(a, a ** 3) == pytest.approx(1.0)
    assert stats.spearman(a, -a) == pytest.approx(-1.0)
    labels = (a >= 0.5).astype(float)
    assert stats.auc(labels, a) == pytest.approx(1.0)
    assert stats.auc(labels, [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)  # all tied
    assert np.isnan(stats.auc(np.ones(4), a))  # one class only: undefined, not a number


def test_agreement_ci_brackets_estimate():
    rng = np.random.default_rng(4)
    a = rng.uniform(size=300)
    b = a + rng.normal(scale=0.1, size=300)
    est, lo, hi = stats.agreement_ci(a, b, "spearman", n_boot=300, seed=0)
    assert lo <= est <= hi and 0.8 < est < 1.0
    est, lo, hi = stats.agreement_ci(a, b, "auc", n_boot=300, seed=0)
    assert lo <= est <= hi and est > 0.9


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="no scores"):
        stats.bootstrap_ci([])
    with pytest.raises(ValueError, match="unknown statistic"):
        stats.bootstrap_ci([1.0], stat="median")
    with pytest.raises(ValueError, match="pair by id"):
        stats.win_scores([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="agreement kind"):
        stats.agreement_ci([1.0, 2.0], [1.0, 2.0], "kappa")


def test_several_responses_per_prompt_cluster_bootstrap():
    rng = np.random.default_rng(3)
    one = rng.normal(size=200)
    # One response per prompt as a column: exactly the 1-D statistics.
    assert stats.bootstrap_ci(one[:, None], 300, 1, "p90") == stats.bootstrap_ci(one, 300, 1, "p90")
    three = rng.normal(size=(200, 3))
    three[5, 1:] = np.nan  # a prompt with one surviving response
    est, lo, hi = stats.bootstrap_ci(three, 300, 1, "p90")
    assert est == pytest.approx(np.nanpercentile(three, 90)) and lo < est < hi
    # P90 of seed means is smaller (averaging shrinks the spread); over responses it is not.
    assert np.percentile(np.nanmean(three, axis=1), 90) < est - 0.3
    # Same distribution, 3 responses vs 1: no difference; a shifted one: a clear difference.
    assert stats.paired_bootstrap_test(three, one[:, None], 500, 0, "p90") > 0.05
    assert stats.paired_bootstrap_test(three + 1.0, one[:, None], 500, 0, "p90") < 0.01
    with pytest.raises(ValueError, match="prompt without any finite response"):
        stats.bootstrap_ci(np.array([[1.0, np.nan], [np.nan, np.nan]]), 10, 0, "p90")
    with pytest.raises(ValueError, match="several responses per prompt"):
        stats.bootstrap_ci(three, 10, 0, lambda x: x.max(-1))
