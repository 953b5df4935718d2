"""The suite's whole-workflow runs, started in the background as soon as the session knows it needs them.

Each such run is minutes of Snakemake jobs. Started when collection ends (conftest's
`pytest_collection_finish`), they overlap the hundreds of short tests that run first and
leave a core idle much of the time; the fixture that needs a run joins it and gets what it
would have got by starting the run itself. A test module declares its runs as
`BACKGROUND_RUNS = {fixture name: prepare}`, where `prepare(root)` makes the working
directory (it may `pytest.skip`, e.g. when no SLURM is up) and returns a :class:`Plan`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from workflow_utils import start_snakemake


@dataclass
class Plan:
    workdir: Path
    args: tuple[str, ...]
    timeout: float  # seconds from the start, for the whole run
    extra: dict = field(default_factory=dict)  # what prepare learned on the way (e.g. a dry run's plan)


@dataclass
class Result:
    plan: Plan
    returncode: int
    output: str  # stdout and stderr together, in order

    @property
    def workdir(self) -> Path:
        return self.plan.workdir


Prepare = Callable[[Path], Plan]
RUNS_KEY = pytest.StashKey["BackgroundRuns"]()


def runs_of(config: pytest.Config) -> "BackgroundRuns":
    return config.stash[RUNS_KEY]


class BackgroundRuns:
    def __init__(self, make_root: Callable[[str], Path]):
        self._make_root = make_root
        self._procs: dict[str, tuple[Plan, subprocess.Popen, Path, float]] = {}
        self._skipped: dict[str, str] = {}
        self._failed: dict[str, BaseException] = {}

    def start(self, name: str, prepare: Prepare) -> None:
        if name in self._procs or name in self._skipped or name in self._failed:
            return
        try:
            plan = prepare(self._make_root(name))
        except pytest.skip.Exception as exc:
            self._skipped[name] = str(exc)
            return
        except Exception as exc:  # raised again by join(), in the test that needs the run
            self._failed[name] = exc
            return
        log = plan.workdir.parent / f"{name}.log"
        proc = start_snakemake(plan.workdir, *plan.args, log=log)
        self._procs[name] = (plan, proc, log, time.monotonic())

    def join(self, name: str, prepare: Prepare) -> Result:
        """The run's result; starts it now if the session did not (a skip is raised again)."""
        self.start(name, prepare)
        if name in self._skipped:
            pytest.skip(self._skipped[name])
        if name in self._failed:
            raise self._failed[name]
        plan, proc, log, started = self._procs[name]
        try:
            proc.wait(timeout=max(1.0, plan.timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            _stop(proc)
            pytest.fail(f"background run {name} exceeded {plan.timeout:.0f} s; its output: {log}")
        return Result(plan, proc.returncode, log.read_text(errors="replace"))

    def stop_all(self) -> None:
        """End the runs no test joined (an interrupted or failed-fast session)."""
        for _, proc, _, _ in self._procs.values():
            if proc.poll() is None:
                _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    # SIGTERM first: Snakemake then removes the outputs of the jobs it was running.
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
