"""Cost of TruthfulQA multiple choice: ours (MC1 + MC2, each distinct pair once) against the
official code's MC1 alone, timed in one run on the same model and questions.

    .venv/bin/python benchmarks/mc.py [--model DIR] [--questions N] [--threads 2] \
        [--official-python /work/scratch/odesteer-venv/bin/python --official-src /work/scratch/odesteer-src/src]
    .venv/bin/python benchmarks/mc.py --smoke [--official-python ... --official-src ...]   # seconds

Ours: steerbench.scoring.multiple_choice.score_mc with the official pair rule
(official_pairs), through steerbench.lm.loglik.loglikelihood_ids, float32, unsteered and
steered (a fixed random vector of norm 4 added at the layer, T=1, the cost of any steerer
whose edit is cheap). Official: a subprocess in the official code's own environment calls
its `HuggingFaceLM.compute_answer_prob(question, mc1 choices)` per question (its own loop,
one sequence at a time), unsteered. --smoke saves a tiny random Llama (3 layers) with the
SmolLM2 tokenizer and runs 4 questions. Prints a Markdown table: seconds, pairs scored,
MC1, and how many questions' MC1 outcomes agree between the two.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from lm import default_model  # noqa: E402

from steerbench.lm import load_model  # noqa: E402
from steerbench.lm.loglik import loglikelihood_ids  # noqa: E402
from steerbench.scoring.multiple_choice import official_pairs, score_mc  # noqa: E402

# Run inside the official environment: load its HuggingFaceLM (float32, CPU) and call its
# compute_answer_prob per question on the MC1 choices (correct first). Prints one JSON line.
OFFICIAL_DRIVER = r"""
import json, sys, time, torch
from odesteer.lm import HuggingFaceLM
model, data, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
lm = HuggingFaceLM(model, device="cpu", dtype=torch.float32)
rows = json.load(open(data))[:n]
t = time.perf_counter()
probs = []
for r in rows:
    tg = r["mc1_targets"]
    choices = [c for c, l in tg.items() if l == 1] + [c for c, l in tg.items() if l == 0]
    probs.append(lm.compute_answer_prob(r["question"], choices).tolist())
print(json.dumps({"seconds": time.perf_counter() - t, "probs": probs}))
"""


class AddVector:
    def __init__(self, v: torch.Tensor):
        self.v = v

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * self.v.to(h.dtype)


def records(rows: list[dict]) -> list[dict]:
    def mc(t: dict) -> dict:
        return {"choices": list(t), "labels": [int(v) for v in t.values()]}

    return [{"id": i, "question": r["question"], "mc1": mc(r["mc1_targets"]), "mc2": mc(r["mc2_targets"])}
            for i, r in enumerate(rows)]


def tiny_model_dir(out: Path, tokenizer_dir: Path) -> Path:
    from transformers import AutoTokenizer

    from steerbench.lm.testing import tiny_lm

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    lm = tiny_lm("llama", tok, num_layers=3)
    lm.model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run_official(python: str, src: str, model: Path, data: Path, n: int, threads: int) -> dict:
    env = {"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    t = time.perf_counter()
    out = subprocess.run([python, "-c", OFFICIAL_DRIVER, str(model), str(data), str(n), str(threads)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the official code failed ({python}):\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall"] = time.perf_counter() - t
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "truthfulqa" / "mc_task.json")
    ap.add_argument("--questions", type=int, default=None, help="default: all (817)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--layer", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--official-python", default=None, help="python of an environment with the official code's deps")
    ap.add_argument("--official-src", default=None, help="the official repository's src/ folder")
    ap.add_argument("--smoke", action="store_true", help="a tiny random model and 4 questions: runs in seconds")
    ap.add_argument("--unsteered-only", action="store_true",
                    help="skip the steered run (the fidelity check compares unsteered MC1 only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.data.exists():
        raise FileNotFoundError(f"{args.data}: mc_task.json not found; pass --data")
    if (args.official_python is None) != (args.official_src is None):
        raise ValueError("pass both --official-python and --official-src, or neither")
    tmp = tempfile.TemporaryDirectory()
    model = args.model or default_model()
    n = args.questions
    if args.smoke:
        model, n, args.layer = tiny_model_dir(Path(tmp.name) / "tiny", model), n or 4, 1
    rows = json.loads(args.data.read_text())[:n]
    n = len(rows)
    lm = load_model(model, dtype="float32", device="cpu")
    recs = records(rows)
    pair = official_pairs(lm.tokenizer)
    v = torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(0))
    methods = {"NoSteer": {}, "vector, T=1": {"steerer": AddVector(v / v.norm() * 4), "layer": args.layer, "T": 1.0}}
    if args.unsteered_only:
        del methods["vector, T=1"]
    print(f"# {model.name if hasattr(model, 'name') else model}, CPU float32, {torch.get_num_threads()} threads; "
          f"{n} questions, batch {args.batch_size}")
    print("\n| run | scores | pairs scored | seconds | MC1 | MC2 |")
    print("|---|---|---:|---:|---:|---:|")
    ours_mc1 = None
    for label, kw in methods.items():
        scored = []

        def loglik(c, x, kw=kw):
            scored.append(len(c))
            return loglikelihood_ids(lm, c, x, batch_size=args.batch_size, **kw)

        t = time.perf_counter()
        out = score_mc(recs, loglik, pair_fn=pair)
        dt = time.perf_counter() - t
        m1 = [r["mc1"] for r in out]
        m2 = sum(r["mc2"] for r in out) / n
        if ours_mc1 is None:
            ours_mc1 = m1
        print(f"| ours, {label} | MC1+MC2 | {sum(scored)} | {dt:.1f} | {sum(m1) / n:.4f} | {m2:.4f} |")
    if args.official_python:
        res = run_official(args.official_python, args.official_src, Path(model), args.data, n, args.threads)
        # MC1 as the official probabilities give it: the correct choice (first) strictly highest.
        off = [1.0 if p[0] > max(p[1:]) else 0.0 for p in res["probs"]]
        agree = sum(a == b for a, b in zip(off, ours_mc1))
        pairs = sum(len(p) for p in res["probs"])
        print(f"| official compute_answer_prob, NoSteer | MC1 | {pairs} | {res['seconds']:.1f} | "
              f"{sum(off) / n:.4f} | - |")
        print(f"\nMC1 outcome agreement, ours vs official (NoSteer): {agree}/{n} questions; official wall time "
              f"incl. its model load {res['wall']:.1f} s")
    else:
        print("\nofficial: not run (pass --official-python and --official-src)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
