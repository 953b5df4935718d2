"""Shared fixtures: the real offline data and the real small model (SmolLM2-135M)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STEERBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
# Converting the GGUF takes ~20 s; keep the result across test sessions.
MODEL_CACHE = Path(os.environ.get("STEERBENCH_TEST_CACHE", REPO / ".cache" / "test-models"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not found (set STEERBENCH_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """A float32 Hugging Face folder of SmolLM2-135M-Instruct, converted once and cached."""
    from filelock import FileLock

    from steerbench.lm.convert import convert_gguf, smollm2_gguf_path

    out = MODEL_CACHE / "smollm2-135m-instruct-f32"
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(MODEL_CACHE / ".convert.lock")):
        if not (out / "config.json").exists():
            convert_gguf(smollm2_gguf_path(), out)
    return out


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory, shared_data) -> Path:
    """One local run of config/ci.yaml (the paper's tasks and learned baselines on real data), shared by tests."""
    from workflow_utils import make_workdir, snakemake

    wd = make_workdir(tmp_path_factory.mktemp("ci") / "wd", "ci.yaml")
    res = snakemake(wd, "--cores", "2", "--configfile", "config/ci.yaml", timeout=2700)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return wd
