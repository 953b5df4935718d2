"""TruthfulQA MC1/MC2 of the learned baselines on SmolLM2-135M-Instruct (issue 15), small.

    .venv/bin/python benchmarks/learned_mc.py [--fit 40] [--eval 40] [--layer 13] [--threads 1]

Fits NoSteer, CAA, HPR, RE-Control and TruthFlow (official hyperparameters) on the first
`--fit` questions of fold0 (seed 42 split of the real TruthfulQA set in ../shared/data),
with the extras made by steerbench.stages.fit_data (RE-Control: one sampled response of 32
tokens per question, rewarded by the offline similarity stand-in), then scores MC1/MC2 on
the first `--eval` questions of fold1 with steerbench.scoring.multiple_choice. Prints a
Markdown table. A sanity check of the wiring at demo scale, not the paper's numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402
from lm import default_model  # noqa: E402

from steerbench.io import read_jsonl, write_jsonl  # noqa: E402

METHODS = [("NoSteer", {}, 0.0), ("CAA", {}, 1.0), ("HPR", {"device": "cpu"}, 1.0),
           ("RE-Control", {"device": "cpu"}, 1.0), ("TruthFlow", {"device": "cpu"}, 1.5)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", type=int, default=40)
    ap.add_argument("--eval", type=int, default=40)
    ap.add_argument("--layer", type=int, default=13)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", help="a HF folder of SmolLM2-135M-Instruct (default: the test cache, else converted once)")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "truthfulqa"))
    ap.add_argument("--workdir", help="keep (and reuse) the splits, activations and extras here")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run (3 fit, 2 eval questions) to check the script works")
    args = ap.parse_args()
    if args.smoke:
        args.fit, args.eval = 3, 2
    if args.model is None:
        args.model = str(default_model())
    torch.set_num_threads(args.threads)

    from steerbench.lm import PromptFormatter, load_model, loglikelihood
    from steerbench.scoring.multiple_choice import score_mc
    from steerbench.stages.extract import extract_split
    from steerbench.stages.fit import load_activations
    from steerbench.stages.fit_data import collect_trajectories, extract_fit_extras, load_fit_extras
    from steerbench.steerers import get_steerer
    from steerbench.tasks import get_task

    tmp = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="learned_mc_"))
    tmp.mkdir(parents=True, exist_ok=True)
    task = get_task("truthfulqa")
    task.download({"path": f"{args.data}/TruthfulQA.csv", "mc_path": f"{args.data}/mc_task.json"}, tmp / "raw")
    task.format(tmp / "raw", tmp / "splits", seed=42)
    fit_split, eval_split = tmp / "fit.jsonl", tmp / "eval.jsonl"
    write_jsonl(fit_split, read_jsonl(tmp / "splits" / "fold0.jsonl")[: args.fit])
    write_jsonl(eval_split, [r for r in read_jsonl(tmp / "splits" / "fold1.jsonl") if r.get("mc1")][: args.eval])
    kw = dict(device="cpu", dtype="float32", batch_size=8)
    t0 = time.time()
    # Made once per workdir (the fit split is the same for the same --fit).
    if not (tmp / "acts.safetensors").exists():
        extract_split(args.model, "truthfulqa", fit_split, args.layer, tmp / "acts.safetensors", **kw)
    if not (tmp / "extra.safetensors").exists():
        extract_fit_extras(args.model, "truthfulqa", fit_split, args.layer, tmp / "extra.safetensors", **kw)
    if not (tmp / "traj.safetensors").exists():
        collect_trajectories(args.model, "truthfulqa", fit_split, args.layer, tmp / "traj.safetensors",
                             reward="similarity", settings={"max_new_tokens": 32}, seed=0, **kw)
    print(f"fit data: {time.time() - t0:.0f}s", file=sys.stderr)
    pos, neg = load_activations(tmp / "acts.safetensors")
    extra = load_fit_extras([tmp / "extra.safetensors", tmp / "traj.safetensors"])

    lm = load_model(args.model, dtype="float32", device="cpu")
    records = read_jsonl(eval_split)
    print(f"TruthfulQA MC on SmolLM2-135M-Instruct, layer {args.layer}: fit on {args.fit} questions of fold0 "
          f"({len(pos)} correct / {len(neg)} incorrect answers, {len(extra['traj_states'])} trajectory states), "
          f"scored on {len(records)} questions of fold1\n")
    print("| method | T | MC1 | MC2 | fit (s) |")
    print("|---|---|---|---|---|")
    for name, hp, T in METHODS:
        t0 = time.time()
        steerer = get_steerer(name, **hp).fit(pos, neg, extra, seed=42)
        fit_s = time.time() - t0

        def loglik(contexts, continuations, steerer=steerer, T=T):
            return loglikelihood(lm, contexts, continuations, steerer=steerer, layer=args.layer, T=T, batch_size=8)

        rows = score_mc(records, loglik, PromptFormatter(lm))
        mc1 = sum(r["mc1"] for r in rows) / len(rows)
        mc2 = sum(r["mc2"] for r in rows) / len(rows)
        print(f"| {name} | {T:g} | {mc1:.3f} | {mc2:.3f} | {fit_s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
