"""The demo end to end through the real snakemake CLI: tables, reruns, failures.

One module-scoped run of the whole demo DAG (SmolLM2 on CPU) feeds every test here.
"""

from __future__ import annotations

import math
import os
import re

import pandas as pd
import pytest
import yaml

from workflow_utils import make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.slow

TASKS = ("truthfulqa", "ultrafeedback", "toxicity", "refusal")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, gguf_models):
    # `make demo` in a fresh clone, its model already converted by the rule (conftest.gguf_models)
    wd = make_workdir(tmp_path_factory.mktemp("demo") / "wd", gguf_models=gguf_models)
    res = snakemake(wd, "--cores", "2", timeout=2700)  # ~13 min in CI on a loaded day
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return wd


def _config(wd):
    return yaml.safe_load((wd / "config" / "config.yaml").read_text())


def _methods_of(cfg, task):
    return [m for m, spec in cfg["methods"].items() if not spec.get("tasks") or task in spec["tasks"]]


def test_tables_have_every_method_with_finite_numbers(demo_run):
    for task in TASKS:
        methods = _methods_of(_config(demo_run), task)
        for ext in ("csv", "md", "tex"):
            assert (demo_run / "results" / "demo" / "tables" / f"{task}.{ext}").stat().st_size > 0
        table = pd.read_csv(demo_run / "results" / "demo" / "tables" / f"{task}.csv")
        assert sorted(table["method"].unique()) == sorted(methods), task
        assert table["mean"].map(lambda v: math.isfinite(float(v))).all(), task
        md = (demo_run / "results" / "demo" / "tables" / f"{task}.md").read_text()
        for method in methods:
            assert method in md
    plots = list((demo_run / "results" / "demo" / "plots" / "truthfulqa").glob("*.png"))
    assert plots and all(p.stat().st_size > 1000 for p in plots)


def test_long_stages_log_progress_lines(demo_run):
    """A job log shows how far its stage got (no terminal: lines, not a silent bar)."""
    line = re.compile(r"^\S.*: \d+/\d+ \w+ \(\d+%\), [0-9.e+-]+ \w+/s, (ETA|done in) \d+:\d\d", re.M)
    for stage in ("extract_activations", "generate", "strength_mmlu", "strength_crossent"):
        logs = list((demo_run / "logs" / "demo" / stage).rglob("*.log"))
        assert logs, stage
        assert all(line.search(p.read_text()) for p in logs), stage


def test_rerun_does_nothing(demo_run):
    assert planned_jobs(demo_run) == {}


def test_changing_one_T_reruns_only_that_method(demo_run):
    cfg = _config(demo_run)
    cfg["run"] = "demo"  # an edited copy that updates the demo's results, not a run of its own
    cfg["methods"]["CAA"]["T"] = [2.0]
    (demo_run / "config" / "t_changed.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(demo_run, "--configfile", "config/t_changed.yaml")
    assert jobs.get("generate") == 4  # one per task, CAA only
    assert "fit_steerer" not in jobs and "extract_activations" not in jobs
    assert jobs.get("tabulate") == 4
    n_scorers = sum(len(t["scorers"]) for t in cfg["tasks"].values())
    assert sum(v for k, v in jobs.items() if k.startswith("score_")) == n_scorers


def test_editing_one_steerer_file_reruns_only_its_jobs(demo_run):
    from steerbench.io import atomic_path
    from steerbench.steerers import steerer_source_files

    own = set(steerer_source_files("ITI")) - set(steerer_source_files("CAA"))
    assert own, "ITI should have a library file of its own"
    path = sorted(own)[0]
    st, original = path.stat(), path.read_bytes()
    try:
        # A real edit: Snakemake 9 ignores a newer mtime when the content is unchanged.
        # Written whole (rename), as is the restore: a process that imports the file
        # meanwhile never reads it half-written.
        with atomic_path(path) as tmp:
            tmp.write_bytes(original + b"\n# edited by a test\n")
        jobs = planned_jobs(demo_run)
    finally:
        with atomic_path(path) as tmp:
            tmp.write_bytes(original)
        os.utime(path, (st.st_atime, st.st_mtime))
    assert jobs.get("fit_steerer") == 4  # TruthfulQA fold0 + fold1, UltraFeedback, toxicity
    assert jobs.get("generate") == 3
    assert "extract_activations" not in jobs


def test_corrupted_input_fails_cleanly(demo_run):
    gen = next((demo_run / "results" / "demo" / "generations").rglob("seed0.jsonl"))
    rel = gen.relative_to(demo_run / "results" / "demo" / "generations")
    target = demo_run / "results" / "demo" / "scores" / "quality" / rel
    original = gen.read_text()
    try:
        gen.write_text(original[: len(original) // 2] + "\n{broken")
        res = snakemake(demo_run, "--cores", "1", str(target.relative_to(demo_run)), "--force",
                        "--allowed-rules", "score_quality")
        assert res.returncode != 0
        text = (demo_run / "logs" / "demo" / "score_quality" / rel.with_suffix(".log")).read_text()
        assert str(gen.name) in text and "corrupted" in text
        assert not target.exists()
        assert not list(target.parent.glob(".*.tmp"))
    finally:
        gen.write_text(original)


def test_perspective_rule_against_loopback_server_is_cached_across_methods(demo_run):
    """score_perspective through the real client and a Perspective-compatible server."""
    from support.perspective_server import PerspectiveServer, fake_toxicity

    from steerbench.io import read_jsonl

    cfg = {**_config(demo_run), "run": "demo"}  # scores the demo's generations
    with PerspectiveServer() as server:
        cfg["tasks"]["toxicity"]["scorers"] = ["perspective", "toxicity_open", "quality"]
        cfg["scorers"]["perspective"] = {"discovery_url": server.discovery_url, "qps": 50.0,
                                         "cache": "resources/cache/perspective-test.sqlite"}
        (demo_run / "config" / "perspective.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        targets = [f"results/demo/scores/perspective/smollm2/toxicity/L13/{m}/T{t}/seed0.jsonl"
                   for m, t in (("NoSteer", "0"), ("CAA", "1"))]
        env = {"PERSPECTIVE_API_KEY": "test-key"}
        res = snakemake(demo_run, "--cores", "1", targets[0], "--configfile", "config/perspective.yaml", env=env)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        first = server.request_count
        rows = read_jsonl(demo_run / targets[0])
        gens = {r["id"]: r["generation"] for r in read_jsonl(demo_run / targets[0].replace("scores/perspective", "generations"))}
        assert first == len(set(gens.values())) > 0
        for row in rows:
            assert row["toxicity"] == pytest.approx(fake_toxicity(gens[row["id"]]))
        # A second method's run and a forced rerun never re-request a text already scored.
        res = snakemake(demo_run, "--cores", "1", *targets, "--forcerun", "score_perspective",
                        "--configfile", "config/perspective.yaml", env=env)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        caa = {r["generation"] for r in read_jsonl(demo_run / targets[1].replace("scores/perspective", "generations"))}
        assert server.request_count == first + len(caa - set(gens.values()))
        assert max(server.successes_per_text.values()) == 1


def test_refusal_table_has_the_alphasteer_layout(demo_run):
    """The refusal task's table: one column per eval set, Avg Safety and Avg Utility, every
    refusal method; multi-layer steerers fitted one per layer."""
    cfg = _config(demo_run)
    md = (demo_run / "results" / "demo" / "tables" / "refusal.md").read_text()
    header = md.splitlines()[2]
    labels = ["AdvBench", "GCG", "Cipher", "Avg Safety", "XSTest", "GSM8K", "MATH", "Avg Utility"]
    assert [header.index(f" {x} ") for x in labels] == sorted(header.index(f" {x} ") for x in labels)
    table = pd.read_csv(demo_run / "results" / "demo" / "tables" / "refusal.csv")
    assert sorted(table["method"].unique()) == sorted(_methods_of(cfg, "refusal"))
    avg = table[table["metric"] == "avg_safety"].set_index("method")["mean"]
    dsr = table[table["metric"].str.startswith("dsr_")].groupby("method")["mean"].mean()
    assert (avg - dsr.loc[avg.index]).abs().max() < 1e-9  # Avg Safety = mean of the DSR columns
    for method in ("AlphaSteer", "DynamicAlphaSteer"):
        layers = cfg["methods"][method]["layers"]
        folder = demo_run / "results" / "demo" / "steerers" / "smollm2" / "refusal" / f"L{layers[0]}" / method / "fit.multi"
        assert sorted(p.name for p in folder.glob("*.safetensors")) == sorted(f"L{x}.safetensors" for x in layers)


def _files(root, folders):
    return {p.relative_to(root): p.read_bytes() for f in folders for p in sorted((root / f).rglob("*")) if p.is_file()}


def test_a_second_config_in_the_same_clone_leaves_the_demo_alone(demo_run):
    """Another config (TruthfulQA multiple-choice only) run beside the demo writes under its
    own results root; the demo's results stay byte-identical and up to date."""
    demo_root = demo_run / "results" / "demo"
    compared = ("tables", "scores", "steerers", "datasets")
    before = _files(demo_root, compared)
    demo_jobs = planned_jobs(demo_run)  # (earlier tests here may have touched a demo input)
    cfg = _config(demo_run)
    cfg.pop("strength", None)
    cfg["tasks"] = {"truthfulqa": {**cfg["tasks"]["truthfulqa"], "scorers": ["mc"], "max_eval": 4}}
    cfg["methods"] = {"NoSteer": cfg["methods"]["NoSteer"], "CAA": {**cfg["methods"]["CAA"], "T": [8.0]}}
    (demo_run / "config" / "mc_only.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = snakemake(demo_run, "--cores", "2", "--configfile", "config/mc_only.yaml", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    other = pd.read_csv(demo_run / "results" / "mc_only" / "tables" / "truthfulqa.csv")
    assert sorted(other["method"].unique()) == ["CAA", "NoSteer"]
    assert set(other["metric"]) <= {"mc1", "mc2"} and "mc1" in set(other["metric"])
    after = _files(demo_root, compared)
    changed = [str(k) for k, v in before.items() if after.get(k) != v]
    assert not changed, changed
    assert planned_jobs(demo_run) == demo_jobs  # the other run made no demo job outdated
    assert planned_jobs(demo_run, "--configfile", "config/mc_only.yaml") == {}  # and is complete itself
    assert not (demo_run / "results" / "tables").exists()  # nothing outside the run roots
