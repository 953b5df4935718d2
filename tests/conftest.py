"""Shared fixtures: the real offline data and the real small model (SmolLM2-135M)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from background_runs import RUNS_KEY, BackgroundRuns, Plan, runs_of

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


def _prepare_ci_run(root: Path) -> Plan:
    from workflow_utils import make_workdir

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} not found (set STEERBENCH_SHARED_DATA)")
    wd = make_workdir(root / "wd", "ci.yaml")
    # The limit allows for the other background runs and the short tests sharing the cores.
    return Plan(wd, ("--cores", "2", "--configfile", "config/ci.yaml"), timeout=3600)


BACKGROUND_RUNS = {"ci_run": _prepare_ci_run}


@pytest.fixture(scope="session")
def ci_run(request) -> Path:
    """One local run of config/ci.yaml (the demo's DAG on the real data), shared by tests."""
    res = runs_of(request.config).join("ci_run", _prepare_ci_run)
    assert res.returncode == 0, res.output[-10000:]
    return res.workdir


# ------------------------------------------------------------------ background runs


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RUNS_KEY] = BackgroundRuns(lambda name: config._tmp_path_factory.mktemp(name))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start every whole-workflow run a selected test needs (tests/background_runs.py)."""
    if session.config.option.collectonly:
        return
    registry = dict(BACKGROUND_RUNS)
    for item in session.items:
        registry.update(getattr(getattr(item, "module", None), "BACKGROUND_RUNS", {}))
    runs = runs_of(session.config)
    for name, prepare in registry.items():
        if any(name in getattr(item, "fixturenames", ()) for item in session.items):
            runs.start(name, prepare)


def pytest_sessionfinish(session: pytest.Session) -> None:
    runs_of(session.config).stop_all()
