"""Run the real workflow (the snakemake CLI) in a scratch working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def make_workdir(tmp: Path, config: str | None = None, overrides: dict | None = None,
                 gguf_models: Path | None = None) -> Path:
    """A working directory holding the workflow (linked) and a copy of its configs.

    `config` names a file in config/; its relative `../shared/...` paths are made absolute
    so the copy works outside the repository. `overrides` are deep-merged into it.
    `gguf_models`: a `resources/models/gguf` folder that convert_model already filled
    (conftest's `gguf_models`); its files are hard-linked in, so no run converts again.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "profiles"):
        os.symlink(REPO / name, tmp / name)
    (tmp / "resources").mkdir(exist_ok=True)
    os.symlink(REPO / "resources" / "demo", tmp / "resources" / "demo")
    shutil.copytree(REPO / "config", tmp / "config")
    if gguf_models is not None:
        shutil.copytree(gguf_models, tmp / "resources" / "models" / "gguf", copy_function=os.link)
    if config:
        text = (REPO / "config" / config).read_text()
        text = text.replace("../shared/", str(REPO.parent / "shared") + "/")
        data = yaml.safe_load(text)
        _merge(data, overrides or {})
        (tmp / "config" / config).write_text(yaml.safe_dump(data, sort_keys=False))
        if config == "ci.yaml":
            build_ci_jigsaw(tmp)
    return tmp


def build_ci_jigsaw(workdir: Path) -> Path:
    """config/ci.yaml's Jigsaw-format CSV, built from the real RealToxicityPrompts records."""
    from steerbench.tasks.toxicity import jigsaw_from_rtp

    rtp = REPO.parent / "shared" / "data" / "realtoxicityprompts"
    out = workdir / "resources" / "ci" / "jigsaw.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    jigsaw_from_rtp([rtp / "challenging_toxic.jsonl", rtp / "nontoxic.jsonl"], out)
    return out


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def snakemake(workdir: Path, *args: str, timeout: float = 1800, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir), *args]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=full_env)


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """rule -> job count of a dry run (`snakemake -n --quiet rules`)."""
    res = snakemake(workdir, "-n", "--quiet", "rules", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    counts: dict[str, int] = {}
    for line in (res.stdout + res.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts
