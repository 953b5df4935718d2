"""kill -9 during extract, fit, generate and score, then the documented recovery
(`snakemake --unlock`, then `snakemake`), gives tables byte-identical to a run never
interrupted. Self-contained and small: one task, two methods, one scorer, four eval items,
four new tokens, the local SmolLM2 folder.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from workflow_utils import SNAKEMAKE, make_workdir, snakemake

pytestmark = pytest.mark.slow

KILL_DURING = ("extract_activations", "fit_steerer", "generate", "score_similarity")


def _tiny_workdir(path: Path, model_dir: Path) -> Path:
    wd = make_workdir(path)
    demo = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    # Without the demo's strength analysis: it would double the run's time and add no stage kind.
    cfg = {
        **{k: v for k, v in demo.items() if k != "strength"},
        "models": {"smollm2": {"path": str(model_dir), "layers": [13], "dtype": "float32", "batch_size": 4}},
        "tasks": {"ultrafeedback": {**demo["tasks"]["ultrafeedback"],
                                    "params": {"n_train": 8, "n_val": 2, "n_test": 4},
                                    # one scorer is enough (its job is killed below; the
                                    # config checks want an alignment scorer): each score
                                    # job pays ~10 s of imports and model load
                                    "scorers": ["similarity"],
                                    # the demo's generation settings (min_new_tokens: SmolLM2
                                    # ends some raw prompts at once), shorter
                                    "generation": {**demo["tasks"]["ultrafeedback"].get("generation", {}),
                                                   "max_new_tokens": 4}}},
        "methods": {"NoSteer": {"steerer": "NoSteer", "T": [0]}, "CAA": {"steerer": "CAA", "T": [1.0]}},
    }
    # The documented commands use the default config file: the tiny one takes its place.
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return wd


def _run_until_rule_starts(wd: Path, rule: str, delay_s: float = 1.0) -> bool:
    """Start `snakemake --cores 1`; once a job of `rule` has started, kill -9 the whole
    process group (snakemake and its jobs). True if the kill happened mid-run."""
    cmd = [SNAKEMAKE, "--snakefile", str(wd / "Snakefile"), "--directory", str(wd), "--cores", "1"]
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    killed = False
    try:
        for line in proc.stdout:
            if re.match(rf"^(local)?rule {rule}:", line.strip()):
                time.sleep(delay_s)
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
        proc.stdout.read()
    finally:
        if proc.poll() is None and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return killed


def _tables(wd: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((wd / "results" / "demo" / "tables").glob("*")) if p.is_file()}


def test_kill_during_each_stage_then_recovery_gives_identical_tables(tmp_path, smollm2_dir):
    reference = _tiny_workdir(tmp_path / "reference", smollm2_dir)
    wd = _tiny_workdir(tmp_path / "killed", smollm2_dir)
    # The uninterrupted run goes on the second core while the killed runs (one job at a
    # time) use the first: separate folders, nothing shared.
    with ThreadPoolExecutor(max_workers=1) as pool:
        uninterrupted = pool.submit(snakemake, reference, "--cores", "1", timeout=1500)
        for rule in KILL_DURING:
            assert _run_until_rule_starts(wd, rule), f"no {rule} job started"
            incomplete = wd / ".snakemake" / "incomplete"
            assert incomplete.is_dir() and any(incomplete.iterdir()), f"kill during {rule} left no incomplete job"
            # The documented recovery (README "After a crash or kill"): unlock, then rerun.
            unlock = snakemake(wd, "--unlock", timeout=300)
            assert unlock.returncode == 0, unlock.stderr[-2000:]
        res = snakemake(wd, "--cores", "1", timeout=1500)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        ref = uninterrupted.result()
    assert ref.returncode == 0, ref.stdout[-3000:] + ref.stderr[-3000:]
    expected = _tables(reference)
    assert expected and any(name.endswith(".csv") for name in expected)
    assert _tables(wd) == expected
    assert not list((wd / "results").rglob(".*.tmp"))
