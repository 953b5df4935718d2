"""Training time and memory of the learned baselines (HPR, RE-Control, TruthFlow), issue 15.

    .venv/bin/python benchmarks/learned.py [--dims 576 4096] [--n 10000] [--device cpu]
                                           [--threads 1] [--epochs HPR=5 TruthFlow=1 ...]
                                           [--n-run 1000] [--smoke]

Synthetic data of `--n` samples at each hidden size d, shaped as each method consumes it:
- HPR: n/2 groups of one positive and one negative activation (n/2 pairs);
- RE-Control: n trajectory states, 200 trajectories of n/200 steps with one reward each;
- TruthFlow: n/2 questions, each one query state, one positive and one negative.
Each (method, d) runs in a fresh subprocess with the official hyperparameters except
`--epochs` (default: the official counts, 5 / 100 / 40) and `--n-run` (default: n), the
samples the timed run trains on. A shorter run (fewer epochs or samples) is timed as it
is and the full training time is extrapolated linearly in epochs and in samples (marked
"~"): every method's work per epoch is proportional to its samples (fixed batch sizes;
RE-Control's one batch per epoch holds all states); the one-off setup is then counted
more than once, so it is an upper estimate. Memory: the subprocess's peak resident set
(CPU) or peak CUDA allocation, of the run as made (with `--n-run` < n the data is smaller).
Prints a Markdown table. `--smoke`: d=64, n=400, one epoch each, seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

OFFICIAL_EPOCHS = {"HPR": 5, "RE-Control": 100, "TruthFlow": 40}


def synthetic(method: str, d: int, n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g) / d**0.5
    if method == "RE-Control":
        n_ep = 200
        length = max(1, n // n_ep)
        states = torch.randn(n_ep * length, d, generator=g)
        return torch.randn(8, d, generator=g), torch.randn(8, d, generator=g), {
            "traj_states": states,
            "traj_rewards": torch.randn(n_ep, generator=g).repeat_interleave(length),
            "traj_episode": torch.arange(n_ep).repeat_interleave(length),
            "traj_step": torch.arange(length).repeat(n_ep),
        }
    groups = n // 2
    centre = torch.randn(groups, d, generator=g)
    pos = centre + w + 0.1 * torch.randn(groups, d, generator=g)
    neg = centre - w + 0.1 * torch.randn(groups, d, generator=g)
    ids = torch.arange(groups)
    return pos, neg, {"pos_group": ids, "neg_group": ids.clone(), "queries": centre}


def run_one(method: str, d: int, n: int, epochs: int, device: str, threads: int) -> dict:
    import torch

    from steerbench.steerers import get_steerer

    torch.set_num_threads(threads)
    # Warm-up: the first optimiser step imports torch's compiler stack (seconds), not training.
    small = synthetic(method, 32, 400)
    get_steerer(method, epochs=1, device=device).fit(*small[:2], small[2], seed=0)
    pos, neg, extra = synthetic(method, d, n)
    steerer = get_steerer(method, epochs=epochs, device=device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    steerer.fit(pos, neg, extra, seed=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    mem = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    params = sum(v.numel() for k, v in steerer.state.items() if v.is_floating_point())
    return {"seconds": seconds, "peak_mib": mem, "params": params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=list(OFFICIAL_EPOCHS))
    ap.add_argument("--dims", nargs="+", type=int, default=[576, 4096])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--n-run", type=int, default=None, help="samples of the timed run (default: n)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", nargs="*", default=[], help="METHOD=E overrides, e.g. TruthFlow=1")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--one", nargs=4, metavar=("METHOD", "D", "N", "EPOCHS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        m, d, n, e = args.one
        print(json.dumps(run_one(m, int(d), int(n), int(e), args.device, args.threads)))
        return
    epochs = dict(OFFICIAL_EPOCHS)
    for item in args.epochs:
        name, _, value = item.partition("=")
        if name not in epochs or not value.isdigit():
            raise SystemExit(f"--epochs {item!r}: expected METHOD=INT with METHOD in {list(epochs)}")
        epochs[name] = int(value)
    dims, n = (args.dims, args.n)
    if args.smoke:
        dims, n, epochs = [64], 400, {k: 1 for k in epochs}
    n_run = min(args.n_run or n, n)
    print(f"n={n} samples (timed runs on {n_run}), device={args.device}, threads={args.threads} torch thread(s)\n")
    print("| method | d | params | epochs run | time for the run (s) | full official training (s) | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for d in dims:
        for method in args.methods:
            e = epochs[method]
            cmd = [sys.executable, __file__, "--one", method, str(d), str(n_run), str(e), "--device", args.device,
                   "--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode:
                raise SystemExit(f"{method} d={d} failed:\n{res.stderr[-3000:]}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            full = r["seconds"] * OFFICIAL_EPOCHS[method] / e * n / n_run
            mark = "" if (e, n_run) == (OFFICIAL_EPOCHS[method], n) else "~"
            print(f"| {method} | {d} | {r['params'] / 1e6:.2f}M | {e} | {r['seconds']:.1f} | {mark}{full:.0f} | "
                  f"{r['peak_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
