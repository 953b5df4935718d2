"""select_T: T chosen on validation score files, tables / summary / plots at that T (synthetic
score files in the real results layout, real tables code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steerbench.plots_select import plot_val_test_vs_T
from steerbench.stages.select import plot_selected, select_T, summary_selected, tabulate_selected
from steerbench.tables import summarise
from tables_synth import summarise_each_task, write_scores

N = 20
# (method, T) -> (validation sim_acc, test sim_acc, validation ppl): validation prefers CAA
# at T=2, test would prefer T=4; ODESteer is best at T=2 on both.
RUNS = {
    ("NoSteer", 0.0): (0.30, 0.30, 10.0),
    ("CAA", 1.0): (0.30, 0.20, 10.5),
    ("CAA", 2.0): (0.70, 0.40, 11.5),
    ("CAA", 4.0): (0.50, 0.90, 15.0),
    ("ODESteer", 2.0): (0.60, 0.50, 11.0),
    ("ODESteer", 5.0): (0.40, 0.30, 13.0),
}
METHODS = ["NoSteer", "CAA", "ODESteer"]


def _write(root: Path, split: str) -> list[Path]:
    files = []
    for (method, T), (val, test, ppl) in RUNS.items():
        frac = val if split == "val" else test
        acc = (np.arange(N) < round(frac * N)).astype(float)
        files.append(write_scores(root, "similarity", "m", "truthfulqa", 13, method, T, 0, {"sim_acc": acc}, N))
        q = {"ppl": np.full(N, ppl if split == "val" else ppl + 1), "dist1": np.full(N, 0.8),
             "dist2": np.full(N, 0.8), "dist3": np.full(N, 0.8)}
        files.append(write_scores(root, "quality", "m", "truthfulqa", 13, method, T, 0, q, N))
    return files


BOOT = dict(n_boot=200, seed=0)


@pytest.fixture()
def scores(tmp_path):
    """Validation score files, test score files and the test summary (rule summarise)."""
    test = _write(tmp_path / "test", "test")
    (test_summary,) = summarise_each_task(test, tmp_path / "summaries", **BOOT)
    return _write(tmp_path / "val", "val"), test, test_summary


def test_best_on_validation_picks_the_validation_T_not_the_test_T(scores, tmp_path):
    val, test, test_summary = scores
    sel = select_T(val, test_summary, "truthfulqa", tmp_path / "t.select_T.csv", {"rule": "best"}, **BOOT).set_index("method")
    assert sel.loc["CAA", "T"] == 2.0 and sel.loc["CAA", "metric"] == "sim_acc"
    assert sel.loc["CAA", "value"] == pytest.approx(0.70)
    # For comparison only: the rule on the test scores would have picked 4.
    assert sel.loc["CAA", "test_T"] == 4.0
    assert sel.loc["CAA", "test_value_at_T"] == pytest.approx(0.40)
    assert sel.loc["CAA", "test_value_at_test_T"] == pytest.approx(0.90)
    assert sel.loc["ODESteer", "T"] == 2.0 and "NoSteer" not in sel.index
    assert pd.read_csv(tmp_path / "t.select_T.csv").shape[0] == 2


def test_budget_rule_on_validation_ppl(scores, tmp_path):
    val, test, test_summary = scores
    sel = select_T(val, test_summary, "truthfulqa", tmp_path / "s.csv", {"rule": "budget", "budget": 1.6,
                                                                 "cost_metric": "ppl"}, **BOOT).set_index("method")
    assert sel.loc["CAA", "T"] == 2.0 and sel.loc["CAA", "value"] == pytest.approx(1.5)
    assert sel.loc["ODESteer", "T"] == 2.0
    tight = select_T(val, test_summary, "truthfulqa", tmp_path / "s.csv", {"rule": "budget", "budget": 0.2}, **BOOT)
    assert tight["T"].isna().all() and tight["note"].str.contains("no T within budget").all()


def test_table_reports_test_scores_at_the_chosen_T_with_rule_in_caption(scores, tmp_path):
    val, test, test_summary = scores
    sel_file = tmp_path / "truthfulqa.select_T.csv"
    select_T(val, test_summary, "truthfulqa", sel_file, {"rule": "best"}, **BOOT)
    out = {ext: tmp_path / f"truthfulqa.{ext}" for ext in ("csv", "md", "tex")}
    tabulate_selected(test_summary, sel_file, "truthfulqa", METHODS, out["csv"], out["md"], out["tex"])
    csv = pd.read_csv(out["csv"])
    acc = csv[csv["metric"] == "sim_acc"].set_index("method")
    assert acc.loc["CAA", "T"] == 2.0 and acc.loc["CAA", "mean"] == pytest.approx(0.40)  # test score at val's T
    assert acc.loc["ODESteer", "T"] == 2.0 and acc.loc["ODESteer", "mean"] == pytest.approx(0.50)
    assert sorted(acc.index) == ["CAA", "NoSteer", "ODESteer"]  # one row per method
    md = out["md"].read_text()
    assert "rule best: the highest validation mean of Sim-Acc" in md and "CAA T=2, ODESteer T=2" in md
    assert "| Method | T |" in md and "0.900" not in md  # the test-best T=4 is not reported
    row = next(line for line in md.splitlines() if line.startswith("| CAA"))
    assert row.split("|")[2].strip() == "2" and "0.400" in row
    tex = out["tex"].read_text()
    assert r"\caption{Results on truthfulqa. T chosen on the validation split (rule best" in tex


def test_summary_at_the_chosen_T_names_the_rule(scores, tmp_path):
    val, test, test_summary = scores
    sel_file = tmp_path / "truthfulqa.select_T.csv"
    select_T(val, test_summary, "truthfulqa", sel_file, {"rule": "best"}, **BOOT)
    out = {ext: tmp_path / f"summary.{ext}" for ext in ("csv", "md", "tex")}
    cross = summary_selected([test_summary], [sel_file], METHODS, out["csv"], out["md"], out["tex"],
                             ours=["ODESteer"]).set_index("method")
    assert cross.loc["CAA", "T"] == 2.0 and cross.loc["CAA", "mean"] == pytest.approx(0.40)
    md = out["md"].read_text()
    assert "0.400 @T=2" in md and "optimistic" not in md and "T chosen on the validation split" in md


def test_vs_T_plot_shows_validation_and_test(scores, tmp_path):
    val, test, test_summary = scores
    sel_file = tmp_path / "truthfulqa.select_T.csv"
    select_T(val, test_summary, "truthfulqa", sel_file, {"rule": "best"}, **BOOT)
    files = plot_selected([str(p) for p in test], [str(p) for p in val], str(sel_file), "truthfulqa", METHODS,
                          str(tmp_path / "plots"), **BOOT)
    assert (tmp_path / "plots" / "sim_acc_vs_T.png").is_file() and files
    from steerbench.results import collect

    t = summarise(collect(test), **BOOT)
    v = summarise(collect(val), **BOOT)
    fig = plot_val_test_vs_T(t, v, {"CAA": 2.0, "ODESteer": 2.0}, "sim_acc", METHODS, "NoSteer", "x")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"CAA (test)", "CAA (val)", "ODESteer (test)", "ODESteer (val)"} <= set(labels)
    stars = [line for line in fig.axes[0].lines if line.get_marker() == "*"]
    assert sorted(float(s.get_xdata()[0]) for s in stars) == [2.0, 2.0]
    assert sorted(round(float(s.get_ydata()[0]), 6) for s in stars) == [0.4, 0.5]  # the test means at T=2
