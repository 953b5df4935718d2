"""Speed of TruthfulQA multiple-choice scoring (score_mc's log-likelihoods), on SmolLM2-135M.

    .venv/bin/python benchmarks/mc.py [--model DIR] [--questions 24] [--threads 1] [--repeats 2]

Scores every MC1 and MC2 choice of the first `--questions` questions of mc_task.json, each
choice a (chat-formatted question, answer) pair, unsteered and steered (CAA-like vector,
T=1), two ways: every pair as one whole sequence (`share_contexts=False`, how the runtime
did it before, and how one-pair-at-a-time code does it in batches), and each question's
context run once with its key/value cache shared by its choices (the default). Prints a
Markdown table of pairs/s and the largest difference between the two routes' values.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from lm import default_model  # noqa: E402

from steerbench.lm import format_prompt, load_model, loglikelihood  # noqa: E402
from steerbench.scoring.multiple_choice import _continuation  # noqa: E402


class AddVector:
    def __init__(self, v: torch.Tensor):
        self.v = v

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * self.v.to(h.dtype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "truthfulqa" / "mc_task.json")
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=8, help="score_mc's default")
    ap.add_argument("--layer", type=int, default=13)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.exists():
        raise FileNotFoundError(f"{args.data}: mc_task.json not found; pass --data")
    lm = load_model(args.model or default_model(), dtype="float32", device=args.device)
    contexts, conts = [], []
    for row in json.loads(args.data.read_text())[: args.questions]:
        ctx = format_prompt(lm, row["question"])
        for key in ("mc1_targets", "mc2_targets"):
            for choice in row[key]:
                contexts.append(ctx)
                conts.append(_continuation(ctx, choice))
    v = torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(0))
    steer = AddVector(v / v.norm() * 4)
    loglikelihood(lm, contexts[:8], conts[:8])  # warm-up
    print(f"# {lm.name}, {lm.device}, {torch.get_num_threads()} threads; {args.questions} questions, "
          f"{len(contexts)} pairs, batch {args.batch_size}")
    print("\n| steering | whole sequences, pairs/s | shared contexts, pairs/s | speed-up | max abs diff |")
    print("|---|---:|---:|---:|---:|")
    for label, kw in (("none", {}), ("vector, T=1", {"steerer": steer, "layer": args.layer, "T": 1.0})):
        times, values = {}, {}
        for _ in range(args.repeats):  # interleaved, so both routes see the same machine load
            for share in (False, True):
                t = time.perf_counter()
                values[share] = loglikelihood(lm, contexts, conts, batch_size=args.batch_size, share_contexts=share, **kw)
                times[share] = min(times.get(share, float("inf")), time.perf_counter() - t)
        diff = max(abs(a - b) for a, b in zip(values[False], values[True]))
        n = len(contexts)
        print(f"| {label} | {n / times[False]:.1f} | {n / times[True]:.1f} | {times[False] / times[True]:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
