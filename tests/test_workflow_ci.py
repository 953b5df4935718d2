"""config/ci.yaml end to end: the whole DAG on the real data in ../shared/data."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import yaml

from steerbench.io import read_jsonl

pytestmark = pytest.mark.slow


def test_real_data_tables_and_splits(ci_run):
    cfg = yaml.safe_load((ci_run / "config" / "ci.yaml").read_text())
    for task in cfg["tasks"]:
        # methods.<id>.tasks restricts a method (the learned baselines) to some tasks.
        methods = sorted(m for m, spec in cfg["methods"].items() if task in spec.get("tasks", [task]))
        table = pd.read_csv(ci_run / "results" / "ci" / "tables" / f"{task}.csv")
        assert sorted(table["method"].unique()) == methods, task
        assert table["mean"].map(lambda v: math.isfinite(float(v))).all(), task
        assert (table["n"] > 0).all()
    # The split files hold the paper's full folds; max_fit/max_eval only subsample them.
    folds = [read_jsonl(ci_run / "results" / "ci" / "datasets" / "truthfulqa" / f"fold{i}.jsonl") for i in (0, 1)]
    assert len(folds[0]) + len(folds[1]) == 817
    assert not {r["question"] for r in folds[0]} & {r["question"] for r in folds[1]}
    # Generations cover max_eval prompts from each fold, answered by the other fold's steerer.
    gens = read_jsonl(ci_run / "results" / "ci" / "generations" / "smollm2" / "truthfulqa" / "L13" / "ODESteer" / "T5" / "seed0.jsonl")
    assert sorted({g["split"] for g in gens}) == ["fold0", "fold1"]
    assert len(gens) == 2 * cfg["tasks"]["truthfulqa"]["max_eval"]
    assert all(g["generation"].strip() for g in gens)
    meta = json.loads((ci_run / "results" / "ci" / "steerers" / "smollm2" / "truthfulqa" / "L13" / "ODESteer" / "fold0.json").read_text())
    assert meta["d"] == 576 and meta["n_pos"] > 0 and meta["n_neg"] > 0


def test_every_job_wrote_its_log_and_benchmark(ci_run):
    logs = list((ci_run / "logs" / "ci").rglob("*.log"))
    benches = list((ci_run / "logs" / "ci" / "benchmarks").rglob("*.tsv"))
    assert len(logs) >= 40 and len(benches) == len(logs)
