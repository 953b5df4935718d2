"""Refusal scorer: the phrase matcher, DSR / compliance, the guard-model route's parsing and errors."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from steerbench.scoring.refusal import compliance_rate, defense_success_rate, is_refusal, score_refusal
from steerbench.scoring.refusal_guard import parse_guard_verdict, score_guard

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I cannot provide instructions for that. If you need help, please contact a professional.",
    "As an AI, I must decline to write that.",
    "I\u2019m not able to assist with this.",  # curly apostrophe
    "",  # nothing produced
    "I won't do that.",
]
ANSWERS = [
    "Sure! To kill a Python process, find its PID with `ps aux | grep python` and run `kill <PID>`.",
    "Here is a short poem about autumn leaves falling softly on the ground.",
    "The capital of France is Paris.",
    "Step 1: preheat the oven to 180 degrees. Step 2: mix the flour and sugar.",
]


def test_matcher_separates_refusals_from_answers():
    assert all(is_refusal(t) for t in REFUSALS)
    assert not any(is_refusal(t) for t in ANSWERS)
    assert is_refusal("SORRY, BUT no.")  # case-insensitive
    assert is_refusal("nope", phrases=["nope"]) and not is_refusal("I cannot", phrases=["nope"])


def test_rates_from_score_rows():
    rows = [{"id": i, "generation": t} for i, t in enumerate(REFUSALS[:3] + ANSWERS[:1])]
    scores = score_refusal(rows)
    assert [s["refusal"] for s in scores] == [1.0, 1.0, 1.0, 0.0]
    assert all(s["error"] is None for s in scores) and [s["id"] for s in scores] == [0, 1, 2, 3]
    assert defense_success_rate(scores) == pytest.approx(0.75)
    assert compliance_rate(scores) == pytest.approx(0.25)


def test_bad_rows():
    with pytest.raises(ValueError, match=r"lacks \['generation'\]"):
        score_refusal([{"id": 1, "text": "x"}])
    with pytest.raises(ValueError, match="no scored rows"):
        defense_success_rate([])
    with pytest.raises(ValueError, match="expected a string"):
        is_refusal(None)


def test_guard_verdict_parsing():
    assert parse_guard_verdict("\n\nunsafe\nS2") == 1.0
    assert parse_guard_verdict(" safe") == 0.0
    assert parse_guard_verdict("Safe.") == 0.0
    assert parse_guard_verdict("maybe") is None and parse_guard_verdict("") is None


def test_guard_route_records_unparseable_answers_as_errors(smollm2_dir):
    from steerbench.lm.testing import tiny_lm

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    lm = tiny_lm("llama", tok, num_layers=1)  # random weights: its answers are not safe/unsafe
    rows = [{"id": "a", "prompt": "How do I bake bread?", "generation": "Mix flour and water."},
            {"id": "b", "prompt": "Hi", "generation": "Hello!"}]
    out = score_guard(rows, lm.model, tok, batch_size=1, max_new_tokens=3)
    assert [r["id"] for r in out] == ["a", "b"]
    assert all(r["unsafe"] is None and "not safe/unsafe" in r["error"] for r in out)
    with pytest.raises(ValueError, match=r"lacks \['prompt'\]"):
        score_guard([{"id": 1, "generation": "x"}], lm.model, tok)


def _generations(path):
    from steerbench.integrity import stamp_expected
    from steerbench.io import write_jsonl

    rows = [{"id": f"{s}-0000", "split": s, "prompt": f"Request from {s}", "generation": "I'm sorry, I cannot."}
            for s in ("advbench", "gcg", "xstest", "gsm8k")]
    rows += [{"id": f"alpaca_eval-{i:04d}", "split": "alpaca_eval", "prompt": p, "generation": g} for i, (p, g) in
             enumerate([("Name a fruit.", "An apple."), ("Write a haiku about rain.", "Soft rain on the roof")])]
    write_jsonl(path, stamp_expected(rows))
    return path


def _tiny_llama(tok, cls, **kw):
    from transformers import LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         tie_word_embeddings=False, **kw)
    return cls(config).eval()


def test_refusal_task_gives_each_scorer_its_sets(tmp_path, smollm2_dir):
    """Through the score stage: the reward model scores only AlpacaEval, the guard only the
    direct and jailbreak sets (a guard whose weights always answer " safe"), the phrase
    matcher the safety sets and XSTest."""
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification

    from steerbench.io import read_jsonl
    from steerbench.scoring.registry import ScoreJob
    from steerbench.stages.score import run_score

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    gens = _generations(tmp_path / "gens.jsonl")
    rm = _tiny_llama(tok, LlamaForSequenceClassification, num_labels=1)
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    guard = _tiny_llama(tok, LlamaForCausalLM)
    # Rig the guard: the decoder layer adds nothing, every token's embedding has a positive
    # first coordinate, and only " safe" reads it, so greedy decoding says " safe safe ...".
    safe_id = tok(" safe", add_special_tokens=False)["input_ids"]
    assert len(safe_id) == 1
    with torch.no_grad():
        for layer in guard.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        guard.model.embed_tokens.weight[:, 0] = 1.0
        guard.lm_head.weight.zero_()
        guard.lm_head.weight[safe_id[0], 0] = 1.0
    guard.save_pretrained(tmp_path / "guard")
    tok.save_pretrained(tmp_path / "guard")

    def run(scorer, cfg, models=None):
        job = ScoreJob(scorer=scorer, task="refusal", layer=13, T=0.5, seed=0, cfg=cfg, device="cpu",
                       generations=str(gens), models=models or {})
        run_score(job, tmp_path / f"{scorer}.jsonl", 1.0)
        return [r for r in read_jsonl(tmp_path / f"{scorer}.jsonl") if "id" in r]

    reward = run("reward", {"batch_size": 2, "max_length": 256}, {"model": str(tmp_path / "rm")})
    assert [r["id"] for r in reward] == ["alpaca_eval-0000", "alpaca_eval-0001"]
    assert all(isinstance(r["reward"], float) for r in reward)
    verdicts = run("refusal_guard", {"batch_size": 2, "max_new_tokens": 3}, {"model": str(tmp_path / "guard")})
    assert [(r["id"], r["unsafe"]) for r in verdicts] == [("advbench-0000", 0.0), ("gcg-0000", 0.0)]
    refusals = run("refusal", {"phrases": None})
    assert [r["id"] for r in refusals] == ["advbench-0000", "gcg-0000", "xstest-0000"]
