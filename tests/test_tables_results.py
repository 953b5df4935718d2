"""Collecting score files: path layout, T names, failed items, bad files; the metric registry."""

from __future__ import annotations

import math

import pytest

from steerbench.io import write_jsonl
from steerbench.metrics import base_method, get_metric, headline_metric, is_ours, order_methods
from steerbench.results import collect, format_T, parse_score_path, parse_T

from tables_synth import score_path, write_scores


@pytest.mark.parametrize(
    "T, text",
    [(5.0, "5"), (0.5, "0.5"), (0.0, "0"), (-0.0, "0"), (12, "12"), (0.1, "0.1"),
     (1e-5, "1e-05"), (2.25, "2.25"), (-3.0, "-3")],
)
def test_format_T_names_and_round_trips(T, text):
    assert format_T(T) == text
    assert parse_T("T" + text) == float(T)


def test_format_T_rejects_non_finite():
    with pytest.raises(ValueError, match="finite"):
        format_T(float("nan"))


def test_parse_score_path_reads_metadata():
    run = parse_score_path("results/scores/toxicity_open/smollm2/toxicity/L13/ODESteer-rk4/T0.5/seed2.jsonl")
    assert (run.scorer, run.model, run.task, run.layer, run.method, run.T, run.seed) == (
        "toxicity_open", "smollm2", "toxicity", 13, "ODESteer-rk4", 0.5, 2)


@pytest.mark.parametrize("bad", [
    "results/scores/quality/m/truthfulqa/13/CAA/T4/seed0.jsonl",      # layer without L
    "results/scores/quality/m/truthfulqa/L13/CAA/4/seed0.jsonl",      # T without T
    "results/scores/quality/m/truthfulqa/L13/CAA/Tfour/seed0.jsonl",  # T not a number
    "results/scores/quality/m/truthfulqa/L13/CAA/T4/0.jsonl",         # seed without seed
    "CAA/T4/seed0.jsonl",                                              # too short
])
def test_parse_score_path_rejects_paths_outside_the_layout(bad):
    with pytest.raises(ValueError, match="not a score file path"):
        parse_score_path(bad)


def test_collect_keeps_failed_items_as_nan(tmp_path):
    p = write_scores(tmp_path, "quality", "m", "truthfulqa", 13, "CAA", 4.0, 0,
                     lambda m, i: i + 1.0, n=4, failed=(2,))
    df = collect([p])
    assert len(df) == 4 * 4  # 4 items x (ppl, dist1, dist2, dist3)
    assert set(df["method"]) == {"CAA"} and set(df["T"]) == {4.0} and set(df["layer"]) == {13}
    ppl = df[df["metric"] == "ppl"].set_index("id")["value"]
    assert ppl["q000"] == 1.0 and math.isnan(ppl["q002"])
    assert df["id"].nunique() == 4


def test_collect_rejects_bad_values_and_duplicates(tmp_path):
    p = score_path(tmp_path, "reward", "m", "ultrafeedback", 13, "CAA", 4.0, 0)
    write_jsonl(p, [{"id": "a", "reward": "high", "error": None}])
    with pytest.raises(ValueError, match="must be numbers or null"):
        collect([p])
    write_jsonl(p, [{"id": "a", "reward": 1.0, "error": None}, {"id": "a", "reward": 2.0, "error": None}])
    with pytest.raises(ValueError, match=r"seed0.jsonl:2: duplicate"):  # named by file and line
        collect([p])
    write_jsonl(p, [{"reward": 1.0, "error": None}])
    with pytest.raises(ValueError, match="no 'id'"):
        collect([p])
    with pytest.raises(FileNotFoundError):
        collect([tmp_path / "results/scores/reward/m/ultrafeedback/L13/CAA/T4/seed9.jsonl"])
    with pytest.raises(ValueError, match="no score files"):
        collect([])


def test_method_order_paper_first_then_config_order():
    configured = ["ODESteer-rk4", "MyMethod", "ODESteer", "CAA", "NoSteer", "RE-Control-big", "Zeta"]
    assert order_methods(configured, configured) == [
        "NoSteer", "CAA", "RE-Control-big", "ODESteer", "ODESteer-rk4", "MyMethod", "Zeta"]
    assert base_method("RE-Control-big") == "RE-Control"
    assert base_method("StepODESteer-x") == "StepODESteer"
    assert is_ours("ODESteer-rk4") and is_ours("RFFODESteer") and not is_ours("CAA")


def test_metric_registry_directions_and_headlines():
    assert not get_metric("ppl").higher_is_better
    assert not get_metric("toxicity_open").higher_is_better
    assert get_metric("true_info").higher_is_better
    assert headline_metric("truthfulqa", {"sim_acc", "ppl", "true_info"}) == "true_info"
    assert headline_metric("truthfulqa", {"sim_acc", "ppl"}) == "sim_acc"
    assert headline_metric("truthfulqa", {"mc1", "mc2"}) == "mc1"  # an MC-only run leads with MC1
    assert headline_metric("toxicity", {"toxicity_open", "ppl"}) == "toxicity_open"
    with pytest.raises(ValueError, match="known metrics"):
        get_metric("bleu")


def test_rows_without_metric_keys_count_as_failed(tmp_path):
    p = score_path(tmp_path, "reward", "m", "ultrafeedback", 13, "CAA", 4.0, 0)
    write_jsonl(p, [{"id": "a", "reward": 1.5, "error": None}, {"id": "b", "error": "OOM"}])
    df = collect([p])
    assert df.set_index("id")["value"].to_dict().keys() == {"a", "b"}
    assert math.isnan(df.set_index("id").loc["b", "value"])
    # Every item failed and no row names a metric: the scorer's registered metrics are used.
    p2 = score_path(tmp_path, "quality", "m", "ultrafeedback", 13, "CAA", 4.0, 0)
    write_jsonl(p2, [{"id": "a", "error": "boom"}])
    df2 = collect([p2])
    assert sorted(df2["metric"]) == ["dist1", "dist2", "dist3", "ppl"] and df2["value"].isna().all()
    p3 = score_path(tmp_path, "newscorer", "m", "ultrafeedback", 13, "CAA", 4.0, 0)
    write_jsonl(p3, [{"id": "a", "error": "boom"}])
    with pytest.raises(ValueError, match="not a known scorer"):
        collect([p3])
