"""Time of the table stages: the statistics once (rule summarise) vs once per consumer.

    .venv/bin/python benchmarks/tables.py [--prompts 400] [--methods 8] [--Ts 3] [--n-boot 2000] [--rounds 3] [--smoke]

Before rule `summarise`, each of `tabulate`, `plot` and `summary_table` bootstrapped a task's
scores itself (three times the same statistics). Now `summarise` computes them once and
writes them (`steerbench.tables.write_summary`); the three consumers read the file. The
table times both in one process on synthetic per-item scores of one task (TruthfulQA's
metrics: True*Info, True, Info from `quality`-like raw scores), rounds alternating; the
job start-up (Python, imports) is left out, so this is the statistics alone.
--smoke: tiny sizes, one round.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from steerbench.results import COLUMNS
from steerbench.tables import read_summary, summarise, write_summary
from timing import print_seconds


def synthetic_scores(prompts: int, methods: int, Ts: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    runs = [("NoSteer", 0.0)] + [(f"M{m}", float(t + 1)) for m in range(methods - 1) for t in range(Ts)]
    frames = []
    for method, T in runs:
        for metric in ("true", "info"):
            frames.append(pd.DataFrame({
                "model": "m", "task": "truthfulqa", "layer": 13, "method": method, "T": T, "seed": 0,
                "scorer": "quality", "id": [f"q{i:04d}" for i in range(prompts)], "metric": metric,
                "value": rng.uniform(size=prompts),
            }))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=400)
    ap.add_argument("--methods", type=int, default=8, help="methods, NoSteer included")
    ap.add_argument("--Ts", type=int, default=3, help="T values per steered method")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.prompts, args.methods, args.Ts, args.n_boot, args.rounds = 20, 3, 1, 50, 1
    df = synthetic_scores(args.prompts, args.methods, args.Ts)
    consumers = 3  # tabulate, plot, summary_table
    times: dict[str, list[float]] = {"each consumer summarises": [], "summarise once, consumers read": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "truthfulqa.csv"
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for _ in range(consumers):
                before = summarise(df, n_boot=args.n_boot)
            times["each consumer summarises"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            write_summary(summarise(df, n_boot=args.n_boot), path)
            for _ in range(consumers):
                after = read_summary(path)
            times["summarise once, consumers read"].append(time.perf_counter() - t0)
    # the same numbers either way (names may come back as pandas strings)
    pd.testing.assert_frame_equal(after, before, check_exact=True, check_dtype=False)
    runs = 1 + (args.methods - 1) * args.Ts
    print(f"One task, {runs} runs x {args.prompts} prompts, n_boot {args.n_boot}, {args.rounds} round(s); "
          f"wall seconds for the {consumers} consumers' statistics\n")
    print_seconds("way", times)


if __name__ == "__main__":
    main()
