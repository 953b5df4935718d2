"""Cluster execution: profiles/slurm against a real SLURM, and the cluster env file.

The SLURM tests need the single-node cluster that .ci/run starts (.ci/slurm-up.sh, as
root on Debian) and run only when STEERBENCH_SLURM=1; otherwise they skip and say why.
They run one chain of the CI config (dataset to one score file) through `--profile
profiles/slurm --profile profiles/ci-slurm` and compare every file it wrote with a local
`--cores 2` run (the session's `ci_run`, shared with test_workflow_ci.py, when the config
is ci.yaml: the same jobs are not run twice). The cheap checks of the profile and of
envs/steerbench.yaml run everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from workflow_utils import REPO, make_workdir, snakemake

ENABLED = os.environ.get("STEERBENCH_SLURM") == "1"
# One bound for each whole snakemake run: a hang (e.g. a status query that never
# answers) fails the test instead of eating CI's 90 minutes.
RUN_TIMEOUT_S = int(os.environ.get("STEERBENCH_SLURM_TIMEOUT_S", "1500"))
CI_CONFIG = os.environ.get("STEERBENCH_SLURM_CONFIG", "ci.yaml")  # a file in config/
# One chain of the DAG keeps the SLURM run inside CI's budget on 2 cores: dataset,
# activations, steerer, generation, score, for one method of one task (6 SLURM jobs; the
# whole table would be 13, each paying SLURM's and the imports' start-up). Toxicity has one
# fit split and two CPU rules (classifier, its scorer) besides the GPU ones; CI's node has
# two (placeholder) GPUs. The path is ci.yaml's (model smollm2, layer 13, ODESteer at T=5):
# another config needs STEERBENCH_SLURM_TARGET too.
RUN_ROOT = f"results/{Path(CI_CONFIG).stem}"  # the run's results root: named after its config
TARGET = os.environ.get(
    "STEERBENCH_SLURM_TARGET", f"{RUN_ROOT}/scores/toxicity_open/smollm2/toxicity/L13/ODESteer/T5/seed0.jsonl")
PROFILES = ("--profile", "profiles/slurm", "--profile", "profiles/ci-slurm")


def _slurm_profile() -> dict:
    return yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


# ---------------------------------------------------------------- everywhere, fast


def test_env_file_pins_the_installed_versions_and_covers_pyproject():
    env = yaml.safe_load((REPO / "envs" / "steerbench.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    assert "../.." in pip, "the steerbench package itself must be installed into the env"
    pins = {}
    for line in pip:
        if "==" in line:
            req = Requirement(line)
            (spec,) = req.specifier
            pins[metadata_name(req.name)] = Version(spec.version)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"]["kaggle"]]
    for req in wanted:
        name = metadata_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not pinned in envs/steerbench.yaml"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} violates pyproject's {req}"
    for name, version in pins.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # optional extras (kaggle) need not be in the test venv
        # torch's local build tag (+cpu locally, CUDA on clusters) is not part of the pin
        assert Version(installed.base_version) == version, (
            f"envs/steerbench.yaml pins {name}=={version}, the tested venv has {installed}"
        )


def metadata_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_profile_names_real_rules_and_sends_every_gpu_rule_to_a_gpu(tmp_path):
    """A typo in a set-resources rule name is silently ignored by Snakemake: catch it."""
    wd = make_workdir(tmp_path / "wd")
    # the paper config defines the rules the profile may name (judge, reward, ...), the demo
    # config the strength analysis' rules (included only for configs with a strength: section)
    rules = set()
    for cfg in ("config/paper.yaml", "config/config.yaml"):
        res = snakemake(wd, "--list-rules", "--configfile", cfg, timeout=120)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        rules |= set(res.stdout.split())
    profile = _slurm_profile()
    unknown = set(profile["set-resources"]) - rules
    assert not unknown, f"profiles/slurm set-resources names unknown rules: {sorted(unknown)}"
    gpu_rules = _rules_declaring_gpu()
    assert {"extract_activations", "generate"} <= gpu_rules
    # score rules are built in a loop from the scorer specs: each GPU scorer's pair too
    from steerbench.scoring.registry import scorers

    gpu_rules |= {f"score_{name}{sfx}" for name, spec in scorers().items() if spec.gpu for sfx in ("", "_val")}
    for rule in gpu_rules:
        spec = profile["set-resources"].get(rule)
        assert spec, f"GPU rule {rule} has no set-resources entry in profiles/slurm"
        assert spec.get("slurm_partition") == "gpu" and spec.get("gpu") == 1, (rule, spec)
        assert spec.get("mem_mb", 0) >= 16000, (rule, spec)
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    # the workstation GPU cap of profiles/default must not throttle the cluster
    assert profile["set-resource-scopes"]["gpu"] == "local"


def _rules_declaring_gpu() -> set[str]:
    """Rules whose `resources:` block in workflow/rules/*.smk asks for gpu=1."""
    found = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            name = re.match(r"rule (\w+):", block)
            resources = re.search(r"\n    resources:\n((?:        .*\n)+)", block)
            if name and resources and re.search(r"\bgpu=1\b", resources.group(1)):
                found.add(name.group(1))
    return found


# ---------------------------------------------------------------- real SLURM


def _require_slurm() -> None:
    if not ENABLED:
        pytest.skip("STEERBENCH_SLURM is not 1: no SLURM cluster was started "
                    "(.ci/run starts one as root on Debian, via .ci/slurm-up.sh)")
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        pytest.skip("STEERBENCH_SLURM=1 but sinfo/sbatch are not on PATH")
    res = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=30)
    # Enabled but broken is a failure, not a skip: CI promised a cluster.
    assert res.returncode == 0 and re.search(r"\b(idle|mix|alloc)\b", res.stdout), (
        f"STEERBENCH_SLURM=1 but no SLURM node is up: {res.stdout}{res.stderr}"
    )
    partitions = {line.split()[0].rstrip("*") for line in res.stdout.splitlines()}
    assert {"cpu", "gpu"} <= partitions, f"profiles/slurm needs partitions cpu and gpu; sinfo: {res.stdout}"


def _squeue(job_ids: list[str]) -> dict[str, dict]:
    """State, partition, comment and GPU allocation of finished jobs (MinJobAge keeps them)."""
    res = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T|%P|%k"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    jobs = {}
    for line in res.stdout.splitlines():
        jid, state, part, comment = line.split("|", 3)
        jobs[jid] = {"state": state, "partition": part, "comment": comment}
    for jid in jobs:
        show = subprocess.run(["scontrol", "show", "job", jid], capture_output=True, text=True, timeout=30)
        # Requested GPUs show as TresPerJob=gres:gpu:1 (allocated ones as gres/gpu=1 in TRES
        # while the job runs; a finished job keeps only the request).
        jobs[jid]["gpus"] = "gres:gpu:1" in show.stdout or "gres/gpu=1" in show.stdout
    return jobs


def _slurm_log_ids(workdir: Path) -> dict[str, list[str]]:
    """rule -> SLURM job ids, from the plugin's logs: logs/slurm/rule_<rule>/.../<jobid>.log."""
    out: dict[str, list[str]] = {}
    for log in (workdir / "logs" / "slurm").rglob("*.log"):
        rule = log.relative_to(workdir / "logs" / "slurm").parts[0].removeprefix("rule_")
        out.setdefault(rule, []).append(log.stem)
    return out


def _job_counts(output: str, kind: str = "rule") -> dict[str, int]:
    """rule -> number of `rule X:` (or `localrule X:`) job headers in snakemake's output."""
    counts: dict[str, int] = {}
    for name in re.findall(rf"^{kind} (\w+):$", output, re.M):
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request, gguf_models):
    """The same config and target, once through SLURM and once locally."""
    _require_slurm()
    slurm_wd = make_workdir(tmp_path_factory.mktemp("slurm") / "wd", CI_CONFIG, gguf_models=gguf_models)
    cfg = ("--configfile", f"config/{CI_CONFIG}")  # last: --configfile takes every word after it

    # A dry run prints every job as `rule X:`; the real run prints the jobs it keeps on
    # the submit host (downloads, `all`) as `localrule X:`. The rest must go to SLURM.
    dry = snakemake(slurm_wd, TARGET, "-n", *PROFILES, *cfg, timeout=300)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    planned = _job_counts(dry.stdout + dry.stderr)

    # The SLURM chain is one job at a time and mostly waits (SLURM's start, status polls):
    # the local run goes beside it on the other core instead of after it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        slurm_run = pool.submit(snakemake, slurm_wd, TARGET, *PROFILES, *cfg, timeout=RUN_TIMEOUT_S)
        if CI_CONFIG == "ci.yaml":  # the whole DAG of ci.yaml, run locally once per session
            local_wd = request.getfixturevalue("ci_run")
        else:
            local_wd = make_workdir(tmp_path_factory.mktemp("local") / "wd", CI_CONFIG, gguf_models=gguf_models)
            res_local = snakemake(local_wd, TARGET, "--cores", "2", *cfg, timeout=RUN_TIMEOUT_S)
            assert res_local.returncode == 0, res_local.stdout[-6000:] + res_local.stderr[-6000:]
        res = slurm_run.result()
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-6000:]
    local = _job_counts(res.stdout + res.stderr, "localrule")
    remote = {r: n - local.get(r, 0) for r, n in planned.items() if n > local.get(r, 0)}
    assert remote, "nothing was planned for SLURM"
    assert set(local) <= {"all"} | {r for r in planned if r.startswith("download_")}, (
        f"only downloads (and `all`) may run on the submit host: {local}"
    )
    return {"slurm": slurm_wd, "local": local_wd, "remote": remote, "local_rules": local,
            "log": res.stdout + res.stderr}


def test_every_job_ran_as_its_own_slurm_job(runs):
    wd, remote = runs["slurm"], runs["remote"]
    ids = _slurm_log_ids(wd)
    # one SLURM log (named by job id) per planned job, rule by rule
    assert {r: len(v) for r, v in ids.items()} == remote, (ids, remote)
    all_ids = [j for v in ids.values() for j in v]
    assert len(set(all_ids)) == len(all_ids), "two jobs shared a SLURM job id"
    # snakemake's own account agrees: "submitted with SLURM jobid N"
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", runs["log"]))
    assert submitted == set(all_ids)
    # and SLURM's: every job finished, on the partition the profile asked for
    profile = _slurm_profile()
    jobs = _squeue(all_ids)
    for rule, rule_ids in ids.items():
        spec = profile["set-resources"].get(rule, {})
        want_partition = spec.get("slurm_partition", profile["default-resources"]["slurm_partition"])
        for jid in rule_ids:
            assert jid in jobs, f"SLURM does not know job {jid} of rule {rule}"
            job = jobs[jid]
            assert job["state"] == "COMPLETED", (rule, jid, job)
            assert job["comment"].startswith(f"rule_{rule}"), (rule, jid, job)
            assert job["partition"] == want_partition, (rule, jid, job)
            assert job["gpus"] == (spec.get("gpu", 0) == 1), (rule, jid, job)
    # the rule's own log names the job it ran in (steerbench.runlog prints SLURM_JOB_ID)
    logged = set()
    for log in (wd / "logs").rglob("*.log"):
        if "slurm" not in log.relative_to(wd / "logs").parts[:1]:
            logged |= set(re.findall(r"^SLURM_JOB_ID=(\d+)$", log.read_text(errors="replace"), re.M))
    assert logged and logged <= set(all_ids), (logged, all_ids)
    # local rules (downloads) ran on the submit host: no SLURM log of theirs
    assert not set(runs["local_rules"]) & set(ids)


def _same_content(a: Path, b: Path) -> bool:
    """Equal bytes; for safetensors equal tensors and metadata (the library writes its
    metadata map in a different order from run to run)."""
    if a.suffix != ".safetensors":
        return a.read_bytes() == b.read_bytes()
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(a, "pt") as fa, safe_open(b, "pt") as fb:
        if fa.metadata() != fb.metadata():
            return False
    ta, tb = load_file(a), load_file(b)
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_every_output_equals_a_local_run(runs):
    """Each stage's output (split files, activations, steerer, classifier, generations,
    scores) is the same whether the job ran under SLURM or locally."""
    root = runs["slurm"] / RUN_ROOT
    written = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert runs["slurm"] / TARGET in written, f"the SLURM run did not write {TARGET}"
    stages = {p.relative_to(root).parts[0] for p in written}
    assert {"datasets", "activations", "steerers", "scorers", "generations", "scores"} <= stages, stages
    for slurm_file in written:
        local_file = runs["local"] / RUN_ROOT / slurm_file.relative_to(root)
        assert local_file.exists(), f"the local run lacks {local_file.relative_to(runs['local'])}"
        assert _same_content(slurm_file, local_file), slurm_file.relative_to(root)


def test_failing_rule_fails_the_run_and_is_named(runs):
    """Corrupt one activations file: its fit_steerer jobs rerun on SLURM and must fail."""
    wd = runs["slurm"]
    acts = sorted((wd / RUN_ROOT / "activations").rglob("*.safetensors"))
    assert acts, "no activations to corrupt"
    acts[0].write_bytes(b"not a safetensors file")
    res = snakemake(wd, TARGET, *PROFILES, "--configfile", f"config/{CI_CONFIG}", timeout=RUN_TIMEOUT_S)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-4000:]
    assert re.search(r"Error in rule fit_steerer", out), out[-4000:]
    failed = re.findall(r"SLURM-job '(\d+)' failed", out)
    assert failed, out[-4000:]
    assert all(j["state"] == "FAILED" for j in _squeue(failed).values())
    # snakemake removed what the failed jobs left: no broken steerer looks finished
    model, task, layer, split = acts[0].relative_to(wd / RUN_ROOT / "activations").with_suffix("").parts
    # (when every steerer of that layer failed, snakemake may remove the layer's folder too)
    steerers = wd / RUN_ROOT / "steerers" / model / task / layer
    methods = [m for m in steerers.iterdir() if m.is_dir()] if steerers.is_dir() else []
    left = [m.name for m in methods if (m / f"{split}.safetensors").exists()]
    assert len(left) < len(methods) or not methods, f"every steerer of {acts[0].name} still exists after the failure: {left}"
