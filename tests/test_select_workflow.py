"""select_T in the workflow, through the real snakemake CLI: the block adds the validation
jobs and replaces the table rules; without it the DAG is today's; a block that cannot work
stops the run at parse time with one line naming the key and the fix (dry runs); and the
selection rules run on score files, from the summary to the tables at the chosen T."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from workflow_utils import make_workdir, planned_jobs, snakemake

NEW_RULES = ("generate_val", "score_quality_val", "score_similarity_val", "score_mc_val", "score_toxicity_open_val",
             "validation_split_truthfulqa", "validation_split_toxicity", "select_T", "tabulate_selected",
             "summary_table_selected", "plot_selected")


@pytest.fixture(scope="module")
def wd(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("select") / "wd")
    demo = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    demo.pop("strength")  # its jobs do not depend on select_T
    # The refusal task has no validation split (select_T names it as an error, tested below);
    # its multi-layer methods go with it.
    demo["tasks"].pop("refusal")
    demo["methods"] = {m: s for m, s in demo["methods"].items() if s.get("tasks") != ["refusal"]}
    demo["methods"]["CAA"]["T"] = [0.5, 1.0, 2.0]
    (wd / "config" / "plain.yaml").write_text(yaml.safe_dump(demo))
    (wd / "config" / "select.yaml").write_text(yaml.safe_dump({**demo, "select_T": {"rule": "best", "n_val": 3}}))
    return wd


def _config(wd, name, select):
    cfg = yaml.safe_load((wd / "config" / "plain.yaml").read_text())
    cfg["select_T"] = select
    (wd / "config" / name).write_text(yaml.safe_dump(cfg))
    return f"config/{name}"


def test_block_adds_validation_jobs_and_absent_block_plans_todays_dag(wd):
    plain = planned_jobs(wd, "--configfile", "config/plain.yaml")
    sel = planned_jobs(wd, "--configfile", "config/select.yaml")
    assert not set(NEW_RULES) & set(plain)
    # Today's demo DAG (tests/test_workflow_config.py) with CAA at 3 T: 6 (method, T) x 3 tasks.
    assert plain["generate"] == 18 and plain["tabulate"] == 3 and plain["summary_table"] == 1 and plain["plot"] == 3
    assert plain["extract_activations"] == 4 and plain["fit_steerer"] == 16
    # Every (method, T) also generated and scored on validation.
    assert sel["generate_val"] == sel["generate"] == plain["generate"]
    for scorer in ("quality", "similarity", "mc", "toxicity_open"):
        assert sel[f"score_{scorer}_val"] == sel[f"score_{scorer}"] == plain[f"score_{scorer}"]
    assert sel["select_T"] == sel["tabulate_selected"] == sel["plot_selected"] == 3
    assert sel["summary_table_selected"] == 1
    assert not {"tabulate", "summary_table", "plot"} & set(sel)
    # TruthfulQA's validation steerers: one more fit split per fold, for every method.
    assert sel["extract_activations"] == plain["extract_activations"] + 2
    assert sel["fit_steerer"] == plain["fit_steerer"] + 2 * 4
    assert sel["validation_split_truthfulqa"] == sel["validation_split_toxicity"] == 1
    same = set(plain) - {"extract_activations", "fit_steerer", "tabulate", "summary_table", "plot", "total", "all"}
    assert {r: sel[r] for r in same} == {r: plain[r] for r in same}


@pytest.mark.parametrize("select, expected", [
    ({"rule": "tset-best"}, "config key select_T.rule: 'tset-best' is not one of best, budget"),
    ({"rule": "best", "metric": "reward"},
     "select_T.metric: 'reward' is not produced by tasks.toxicity.scorers (toxicity_open, quality); choose one of "
     "toxicity_open, ppl"),
    ({"rule": "budget"}, "select_T.budget: rule 'budget' needs a budget"),
    ({"rule": "best", "budget": 2.0}, "select_T.budget: only rule 'budget' uses a budget; remove it or set `rule: budget`"),
    ({"rule": "budget", "budget": 2.0, "cost_metric": "true_info"},
     "select_T.cost_metric: the budget's cost 'true_info' is not produced by tasks.toxicity.scorers"),
    ({"rule": "best", "metric": {"truthfulqa": "mc2", "rtp": "toxicity_open"}},
     "select_T.metric: ['rtp'] are not configured tasks"),
])
def test_bad_block_stops_the_dry_run_naming_the_key(wd, select, expected):
    res = snakemake(wd, "-n", "--configfile", _config(wd, "bad.yaml", select))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and expected in out, out[-2000:]
    assert "generate_val" not in out  # stopped before planning


def test_budget_without_a_cost_scorer(wd):
    cfg = yaml.safe_load((wd / "config" / "plain.yaml").read_text())
    cfg["tasks"]["toxicity"]["scorers"] = ["toxicity_open"]
    cfg["select_T"] = {"rule": "budget", "budget": 1.0}
    (wd / "config" / "nocost.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(wd, "-n", "--configfile", "config/nocost.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "select_T.cost_metric: the budget's cost 'ppl' is not produced by tasks.toxicity.scorers (toxicity_open); " \
           "add the scorer that makes it (ppl: quality)" in out, out[-2000:]


def test_lint_is_clean_with_the_block(wd):
    res = snakemake(wd, "--lint", "--configfile", "config/select.yaml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_task_without_validation_split_is_named(wd):
    demo = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    demo.pop("strength")
    demo["select_T"] = {"rule": "best"}
    (wd / "config" / "with_refusal.yaml").write_text(yaml.safe_dump(demo))
    res = snakemake(wd, "-n", "--configfile", "config/with_refusal.yaml")
    assert res.returncode != 0
    assert "task 'refusal' has no validation split" in res.stdout + res.stderr



def test_select_rules_report_the_summary_at_the_validation_chosen_T(wd, tmp_path):
    """The workflow's summarise and select_T rules on score files written in the run's
    layout (the model's jobs are left out with --allowed-rules): T is chosen on validation,
    and the tables are the test summary (rule summarise) at that T."""
    import numpy as np

    from tables_synth import write_scores

    cfg = yaml.safe_load((wd / "config" / "plain.yaml").read_text())
    cfg["tasks"] = {"truthfulqa": {**cfg["tasks"]["truthfulqa"], "scorers": ["similarity"]}}
    cfg["methods"] = {"NoSteer": cfg["methods"]["NoSteer"], "CAA": {"steerer": "CAA", "T": [0.5, 4.0]}}
    cfg["select_T"] = {"rule": "best", "n_val": 3}
    cfg["run"] = "select_rules"
    (wd / "config" / "select_rules.yaml").write_text(yaml.safe_dump(cfg))
    # Validation prefers CAA at T=0.5, the test split would prefer 4.
    accuracy = {("NoSteer", 0.0): (0.3, 0.3), ("CAA", 0.5): (0.8, 0.4), ("CAA", 4.0): (0.5, 0.9)}
    root = wd / "results" / "select_rules"
    for (method, T), (val, test) in accuracy.items():
        for where, acc in (("validation", val), ("test", test)):
            made = write_scores(tmp_path / where, "similarity", "smollm2", "truthfulqa", 13, method, T, 0,
                                {"sim_acc": (np.arange(20) < 20 * acc).astype(float)}, 20)
            dest = (root / "validation" if where == "validation" else root) / made.relative_to(tmp_path / where / "results")
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.rename(dest)
    targets = [f"results/select_rules/{t}" for t in ("tables/truthfulqa.csv", "tables/summary.md", "plots/truthfulqa")]
    res = snakemake(wd, *targets, "--cores", "2", "--allowed-rules", "summarise", "select_T", "tabulate_selected",
                    "summary_table_selected", "plot_selected", "--configfile", "config/select_rules.yaml", timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    sel = pd.read_csv(root / "tables" / "truthfulqa.select_T.csv").set_index("method")
    assert sel.loc["CAA", "T"] == 0.5 and sel.loc["CAA", "test_T"] == 4.0
    summary = pd.read_csv(root / "summaries" / "truthfulqa.csv")
    at_T = summary[(summary["method"] == "CAA") & (summary["metric"] == "sim_acc")].set_index("T")["mean"]
    assert at_T.to_dict() == {0.5: 0.4, 4.0: 0.9}  # the summary holds every T; the table only the chosen one
    table = pd.read_csv(root / "tables" / "truthfulqa.csv")
    caa = table[(table["method"] == "CAA") & (table["metric"] == "sim_acc")]
    assert list(caa["T"]) == [0.5] and list(caa["mean"]) == [0.4]
    assert sel.loc["CAA", "test_value_at_T"] == 0.4
    assert "0.400 @T=0.5" in (root / "tables" / "summary.md").read_text()
    assert (root / "plots" / "truthfulqa" / "sim_acc_vs_T.png").is_file()
