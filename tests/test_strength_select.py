"""choose_T: the validation rules pick the documented T."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from steerbench.strength.select import choose_T


def summary(rows):
    return pd.DataFrame([dict(model="m", task="t", layer=13, method=meth, T=T, metric=metric, mean=mean)
                         for meth, T, metric, mean in rows])


S = summary([
    ("NoSteer", 0.0, "ppl", 10.0), ("NoSteer", 0.0, "true_info", 0.30),
    ("CAA", 1.0, "true_info", 0.40), ("CAA", 2.0, "true_info", 0.45), ("CAA", 4.0, "true_info", 0.45),
    ("CAA", 1.0, "ppl", 10.5), ("CAA", 2.0, "ppl", 11.9), ("CAA", 4.0, "ppl", 20.0),
    ("ODE", 1.0, "ppl", 9.0), ("ODE", 5.0, "ppl", 13.0), ("ODE", 1.0, "true_info", 0.5), ("ODE", 5.0, "true_info", 0.2),
])


def test_best_takes_the_best_mean_and_the_smaller_T_on_ties():
    got = choose_T(S, "best", metric="true_info").set_index("method")
    assert got.loc["CAA", "T"] == 2.0 and got.loc["ODE", "T"] == 1.0
    assert "NoSteer" not in got.index


def test_lower_is_better_metric_is_minimised():
    got = choose_T(S, "best", metric="ppl").set_index("method")
    assert got.loc["CAA", "T"] == 1.0 and got.loc["ODE", "T"] == 1.0


def test_budget_takes_the_largest_T_within_the_cost():
    got = choose_T(S, "budget", budget=2.0).set_index("method")
    assert got.loc["CAA", "T"] == 2.0 and got.loc["CAA", "value"] == pytest.approx(1.9)
    assert got.loc["ODE", "T"] == 1.0
    none = choose_T(S, "budget", budget=0.1).set_index("method")
    assert math.isnan(none.loc["CAA", "T"]) and "no T within budget" in none.loc["CAA", "note"]


def test_bad_rule_and_inputs():
    with pytest.raises(ValueError, match="not one of best, budget"):
        choose_T(S, "test-best")
    with pytest.raises(ValueError, match="needs the headline"):
        choose_T(S, "best")
    with pytest.raises(ValueError, match="budget >= 0"):
        choose_T(S, "budget")
    with pytest.raises(ValueError, match="lacks columns"):
        choose_T(S.drop(columns="T"), "best", metric="ppl")
