"""The workflow's config handling, through the real snakemake CLI (dry runs only)."""

from __future__ import annotations

import time

import pytest
import yaml

from workflow_utils import make_workdir, planned_jobs, snakemake


@pytest.fixture()
def demo_dir(tmp_path):
    return make_workdir(tmp_path / "wd")


def test_demo_dry_run_plans_every_stage(demo_dir):
    jobs = planned_jobs(demo_dir)
    for rule in ("convert_model", "download_truthfulqa", "format_truthfulqa", "extract_activations",
                 "fit_steerer", "generate", "score_quality", "score_mc", "score_similarity",
                 "score_toxicity_open", "train_toxicity_classifier", "tabulate", "summary_table", "plot"):
        assert jobs.get(rule, 0) >= 1, f"{rule} missing from the demo DAG: {jobs}"
    # 3 tasks x 4 methods x 1 T x 1 seed generations; TruthfulQA fits each fold separately.
    # Refusal: NoSteer, CAA (one layer) and AlphaSteer, DynamicAlphaSteer (multi-layer).
    assert jobs["generate"] == 12 + 4
    assert jobs["fit_steerer"] == 4 * (2 + 1 + 1) + 2
    assert jobs["fit_steerer_layers"] == 2 and jobs["extract_activations_layers"] == 1
    assert jobs["tabulate"] == 4


def test_paper_dry_run_is_fast_and_offline(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    start = time.monotonic()
    jobs = planned_jobs(wd, "--configfile", "config/paper.yaml")
    elapsed = time.monotonic() - start
    # ~10 s here; the bound catches a network wait (a hub lookup times out after minutes)
    assert elapsed < 60, f"paper dry run took {elapsed:.1f}s"
    assert jobs["download_model"] >= 4  # 4 steered models + the scorer models, fetched once each
    assert jobs["extract_activations"] == 4 * (2 + 1 + 1) + 1  # per model: 2 TruthfulQA folds, UF, Jigsaw; refusal
    assert jobs["extract_activations_layers"] == 1  # AlphaSteer's 10 layers on Llama-3.1-8B-Instruct, one pass
    assert jobs["generate"] > 100


def _write_config(wd, mutate):
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    mutate(cfg)
    path = wd / "config" / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return "config/bad.yaml"


def test_typo_in_key_is_named(demo_dir):
    bad = _write_config(demo_dir, lambda c: c.update(metods=c.pop("methods")))
    res = snakemake(demo_dir, "-n", "--configfile", bad)
    assert res.returncode != 0
    assert "metods" in res.stdout + res.stderr


def test_unknown_steerer_lists_known_names(demo_dir):
    bad = _write_config(demo_dir, lambda c: c["methods"].update(Foo={"steerer": "ODESteeer", "T": [1]}))
    res = snakemake(demo_dir, "-n", "--configfile", bad)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "ODESteeer" in out and "ODESteer" in out and "CAA" in out


def test_unknown_scorer_is_named(demo_dir):
    bad = _write_config(demo_dir, lambda c: c["tasks"]["truthfulqa"].update(scorers=["mc", "bleurt"]))
    res = snakemake(demo_dir, "-n", "--configfile", bad)
    assert res.returncode != 0
    assert "bleurt" in res.stdout + res.stderr


def test_lint_is_clean(demo_dir):
    res = snakemake(demo_dir, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_prompt_format_is_named(demo_dir):
    def mutate(c):
        next(iter(c["models"].values()))["prompt_format"] = "plain"

    res = snakemake(demo_dir, "-n", "--configfile", _write_config(demo_dir, mutate))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "plain" in out and "prompt_format" in out
