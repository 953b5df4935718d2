"""The strength rules through the real snakemake CLI: the DAG, config errors, and a small
real run whose second invocation with one more alpha computes only that alpha."""

from __future__ import annotations

import pandas as pd
import yaml

from workflow_utils import make_workdir, planned_jobs, snakemake


def _config(wd, mutate) -> str:
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    mutate(cfg)
    path = wd / "config" / "strength_test.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return "config/strength_test.yaml"


def test_demo_plans_the_strength_jobs(tmp_path):
    jobs = planned_jobs(make_workdir(tmp_path / "wd"))
    # 1 model x 1 concept; 2 layers x 1 steerer per measurement.
    assert {r: jobs.get(r) for r in ("strength_vectors", "strength_logodds", "strength_curves", "strength_crossent",
                                     "strength_mmlu", "strength_presence", "strength_plots")} == {
        "strength_vectors": 1, "strength_logodds": 1, "strength_curves": 2, "strength_crossent": 2,
        "strength_mmlu": 2, "strength_presence": 2, "strength_plots": 1}


def test_bad_strength_config_is_named(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    res = snakemake(wd, "-n", "--configfile", _config(wd, lambda c: c["strength"].update(layer=[3])))
    assert res.returncode != 0 and "layer" in res.stdout + res.stderr
    res = snakemake(wd, "-n", "--configfile", _config(wd, lambda c: c["strength"].update(models=["gpt9"])))
    assert res.returncode != 0 and "'gpt9' is not a key of models" in res.stdout + res.stderr


def test_real_run_then_one_more_alpha(tmp_path, smollm2_dir):
    wd = make_workdir(tmp_path / "wd")

    def small(c, alphas):
        c["models"]["smollm2"] = {"path": str(smollm2_dir), "layers": [13], "dtype": "float32", "batch_size": 16}
        s = c["strength"]
        s.update(layers=[12], alphas=alphas, limit_prompts=6)
        s["crossent"]["max_windows"] = 1
        s["mmlu"].update(limit=1, n_shots=1)
        s["presence"]["max_new_tokens"] = 4
        s["curves"]["keep"] = 50

    target = "results/strength_test/plots/strength/smollm2/joy/MeanDiff"
    crossent = "results/strength_test/strength/smollm2/joy/MeanDiff/L12/crossent.csv"
    res = snakemake(wd, "--cores", "2", target, "--configfile", _config(wd, lambda c: small(c, [-4, 4])), timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ce = pd.read_csv(wd / crossent)
    assert sorted(ce["alpha"]) == [-4.0, 0.0, 4.0]
    assert (wd / target / "delta_ce_heatmap.png").is_file() and (wd / target / "presence.png").is_file()
    # One more alpha: the job reruns (params changed) but computes only alpha 2. Every
    # measurement fills the same AlphaCache; one of them shows it (each rerun job costs
    # ~10 s of start-up).
    res = snakemake(wd, "--cores", "2", crossent, "--configfile", _config(wd, lambda c: small(c, [-4, 2, 4])), timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = (wd / "logs/strength_test/strength_crossent/smollm2/joy/MeanDiff/L12.log").read_text()
    assert "computing 1 of 4 alphas" in log, log
    ce2 = pd.read_csv(wd / crossent).set_index("alpha")
    assert ce2.loc[ce["alpha"], "cross_entropy"].tolist() == ce["cross_entropy"].tolist()
