"""Start-up of a workflow job: what each Snakemake job pays before its own work.

    .venv/bin/python benchmarks/jobstart.py [--rounds 5] [--model DIR] [--smoke]

Snakemake starts a fresh Python for every job's script, so every job pays its imports.
Each way below runs the way a job does, in a fresh interpreter, through
`steerbench.runlog.run_script`; rounds alternate the ways (a shared machine's load hits
all alike). Ways:

- table job, now: `tabulate`'s imports and a stage that needs no model; torch stays
  unimported (the rule's threads reach torch through OMP_NUM_THREADS if a stage imports it).
- table job, before: the same with torch imported by run_script to set its threads, as
  every job did until 2026-12-07 (downloads, tables, plots, string scorers included).
- model job: torch, transformers, SmolLM2 and its tokenizer loaded (the floor of every
  extraction, generation and model-scoring job).

--smoke: one round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import print_seconds

JOB = """
import types
from steerbench.runlog import run_script
import steerbench.stages.tables  # tabulate's own import
run_script(types.SimpleNamespace(log=[{log!r}], rule="tabulate", threads=1), {main})
"""
WAYS = {
    "table job, now": "lambda sm: None",
    "table job, before (torch imported)": "lambda sm: __import__('torch').set_num_threads(1)",
    "model job (torch, transformers, SmolLM2 loaded)":
        "lambda sm: __import__('steerbench.lm', fromlist=['load_model']).load_model({model!r}, dtype='float32', device='cpu')",
}


def job_seconds(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", help="a HF folder of SmolLM2-135M-Instruct (default: the test cache, else converted once)")
    ap.add_argument("--smoke", action="store_true", help="one round")
    args = ap.parse_args()
    rounds = 1 if args.smoke else args.rounds
    if args.model is None:
        from lm import default_model

        args.model = str(default_model())
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "job.log")
        codes = {way: JOB.format(log=log, main=main_.format(model=args.model)) for way, main_ in WAYS.items()}
        for _ in range(rounds):
            for way, code in codes.items():
                times[way].append(job_seconds(code))
    print(f"Start-up of one job (fresh interpreter, run_script), {rounds} round(s), wall seconds\n")
    print_seconds("job", times)


if __name__ == "__main__":
    main()
