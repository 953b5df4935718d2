"""Speed of alpha-batched next-token curves against one forward per alpha (issue 14).

    .venv/bin/python benchmarks/strength.py [--model DIR] [--alphas 64] [--contexts 4] [--clock cpu] [--smoke]

Both paths compute the same thing: the softmax at the last position of each context for
every alpha, SmolLM2-135M steered at one layer by a concept vector added at every
position. "batched" puts up to --batch alphas in one forward (each context replicated
along the batch, one alpha per row); "per alpha" runs one forward per alpha, as a loop
over strengths would. Prints a Markdown table. --smoke: a tiny random model, 8 alphas,
seconds. On a shared machine use `--clock cpu --threads 1` (process CPU seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from lm import default_model  # noqa: E402

from steerbench.lm import load_model  # noqa: E402
from steerbench.lm.batching import encode  # noqa: E402
from steerbench.strength.curves import next_token_probs  # noqa: E402

CONTEXTS = ["I think that", "Today I went to the", "The weather this morning was", "My neighbour told me",
            "When I opened the door,", "The best way to describe it is", "After dinner we", "The letter said"]


def timed(fn, clock: str, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time() if clock == "cpu" else time.perf_counter()
        out = fn()
        t1 = time.process_time() if clock == "cpu" else time.perf_counter()
        best = min(best, t1 - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--layer", type=int, default=15)
    ap.add_argument("--alphas", type=int, default=64)
    ap.add_argument("--contexts", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64, help="alphas per forward on the batched path")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 8 alphas: checks the script in seconds")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        from transformers import AutoTokenizer

        from steerbench.lm.testing import tiny_lm

        lm = tiny_lm("llama", AutoTokenizer.from_pretrained(args.model or default_model()), num_layers=3)
        args.layer, args.alphas, args.contexts = 1, 8, 2
    else:
        lm = load_model(args.model or default_model(), dtype="float32", device="cpu")
    v = torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(0))
    alphas = [float(a) for a in torch.linspace(-20, 20, args.alphas)]
    ids = encode(lm.tokenizer, CONTEXTS[: args.contexts])

    def run(batch):
        return [next_token_probs(lm, row, args.layer, v, alphas, batch_size=batch) for row in ids]

    run(args.batch)  # warm-up
    t_batched, batched = timed(lambda: run(args.batch), args.clock, args.repeats)
    t_single, single = timed(lambda: run(1), args.clock, args.repeats)
    diff = max(float((a - b).abs().max()) for a, b in zip(batched, single))
    n = len(alphas) * len(ids)
    print(f"model {lm.name}, layer {args.layer}, {len(alphas)} alphas x {len(ids)} contexts, clock {args.clock}, "
          f"threads {torch.get_num_threads()}\n")
    print("| path | forwards | seconds | curves/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    forwards = len(ids) * -(-len(alphas) // args.batch)
    print(f"| per alpha (1 row per forward) | {n} | {t_single:.2f} | {n / t_single:.1f} | 1.0x |")
    print(f"| alpha-batched ({args.batch} rows per forward) | {forwards} | {t_batched:.2f} | {n / t_batched:.1f} | {t_single / t_batched:.1f}x |")
    print(f"\nmax |p_batched - p_per_alpha| = {diff:.2e}")


if __name__ == "__main__":
    main()
