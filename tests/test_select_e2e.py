"""select_T end to end, small: the real workflow on the local SmolLM2 folder, UltraFeedback
(demo data) with NoSteer and CAA at two strengths, 4 items, 4 new tokens. The table holds
the test scores at the T chosen on the validation scores."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from steerbench.results import collect
from steerbench.tables import summarise
from workflow_utils import make_workdir, snakemake

pytestmark = pytest.mark.slow


def test_select_T_runs_and_tables_report_test_scores_at_the_validation_choice(tmp_path, smollm2_dir):
    wd = make_workdir(tmp_path / "wd")
    demo = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg = {  # without the demo's strength analysis (no stage kind of this test)
        **{k: v for k, v in demo.items() if k != "strength"},
        "models": {"smollm2": {"path": str(smollm2_dir), "layers": [13], "dtype": "float32", "batch_size": 4}},
        "tasks": {"ultrafeedback": {**demo["tasks"]["ultrafeedback"], "params": {"n_train": 8, "n_val": 4, "n_test": 4},
                                    "generation": {"max_new_tokens": 4}, "scorers": ["similarity"]}},
        "methods": {"NoSteer": {"steerer": "NoSteer", "T": [0]}, "CAA": {"steerer": "CAA", "T": [1.0, 8.0]}},
        "min_coverage": 0.0,
        "bootstrap": {"n_boot": 200, "seed": 0},
        "select_T": {"rule": "best"},
    }
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = snakemake(wd, "--cores", "2", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    val_files = sorted((wd / "results" / "validation" / "scores").rglob("*.jsonl"))
    test_files = sorted((wd / "results" / "scores").rglob("*.jsonl"))
    assert len(val_files) == len(test_files) == 3
    val_items = set(collect(val_files)["id"])
    test_items = set(collect(test_files)["id"])
    assert len(val_items) == len(test_items) == 4 and not val_items & test_items
    # The chosen T is the validation argmax (ties: the smaller T).
    val = summarise(collect(val_files), n_boot=200)
    acc = val[(val["metric"] == "sim_acc") & (val["method"] == "CAA")].sort_values("T")
    expected_T = float(acc.loc[acc["mean"].idxmax(), "T"])
    sel = pd.read_csv(wd / "results" / "tables" / "ultrafeedback.select_T.csv")
    assert list(sel["method"]) == ["CAA"] and sel["T"].iloc[0] == expected_T
    table = pd.read_csv(wd / "results" / "tables" / "ultrafeedback.csv")
    caa = table[(table["method"] == "CAA") & (table["metric"] == "sim_acc")]
    test = summarise(collect(test_files), n_boot=200)
    at_T = test[(test["method"] == "CAA") & (test["metric"] == "sim_acc") & (test["T"] == expected_T)]
    assert list(caa["T"]) == [expected_T] and caa["mean"].iloc[0] == pytest.approx(at_T["mean"].iloc[0])
    md = (wd / "results" / "tables" / "ultrafeedback.md").read_text()
    assert "T chosen on the validation split (rule best" in md
    assert (wd / "results" / "plots" / "ultrafeedback" / "sim_acc_vs_T.png").is_file()
