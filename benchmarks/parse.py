"""Time of `snakemake -n` (the workflow's parse and DAG) with and without the parse-facts cache.

    .venv/bin/python benchmarks/parse.py [--configfile config/paper.yaml] [--rounds 5] [--smoke]

Snakemake parses the workflow on every call: each dry run, and each SLURM job's own run.
"cold" deletes `.snakemake/steerbench/` first, so the config checks import the steerers
(and torch) to learn their facts, as every parse did before steerbench.parse_facts; "warm"
reads them from the cache. Rounds alternate cold and warm (a shared machine's load hits
both alike); the table gives the median and min wall seconds of each, in a scratch copy
of the workflow, so the repository's own .snakemake/ is left alone. --smoke: one round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import print_seconds

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def dry_run(workdir: Path, configfile: str | None) -> float:
    cmd = [SNAKEMAKE, "-n", "--quiet", "rules", "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile")]
    if configfile:
        cmd += ["--configfile", str(workdir / configfile)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"snakemake -n failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default=None, help="a config under config/ (default: the demo's)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one round")
    args = ap.parse_args()
    rounds = 1 if args.smoke else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(tmp)
        for name in ("Snakefile", "workflow", "profiles", "config"):
            os.symlink(REPO / name, wd / name)
        (wd / "resources").mkdir()
        os.symlink(REPO / "resources" / "demo", wd / "resources" / "demo")
        times: dict[str, list[float]] = {"cold": [], "warm": []}
        for _ in range(rounds):
            shutil.rmtree(wd / ".snakemake" / "steerbench", ignore_errors=True)
            times["cold"].append(dry_run(wd, args.configfile))
            times["warm"].append(dry_run(wd, args.configfile))
    print(f"`snakemake -n` of {args.configfile or 'the demo config'}, {rounds} round(s), wall seconds\n")
    print_seconds("facts", times)


if __name__ == "__main__":
    main()
