"""The exact strings and token ids each task builds, against the official code's rules.

Expectations are written out from the official ODESteer code (github.com/ZhaoHongjue/odesteer;
the file:line of each rule is in docs/fidelity.md), on the real SmolLM2-135M-Instruct
tokenizer (a chat template; adds no BOS) and the same tokenizer with its template removed
(the official default template then applies).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from steerbench.lm import PromptFormatter, load_model
from steerbench.scoring.multiple_choice import official_pairs, score_mc
from steerbench.tasks import get_task
from steerbench.tasks.truthfulqa import INSTRUCTION

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.fixture(scope="module")
def lm(smollm2_dir):
    return load_model(smollm2_dir, dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def plain_lm(lm):
    """The same model with a tokenizer that has no chat template (a base model's case)."""
    tok = copy.deepcopy(lm.tokenizer)
    tok.chat_template = None
    return dataclasses.replace(lm, tokenizer=tok)


TQA = {"id": "q", "question": "Q1?", "correct_answers": ["Yes."], "incorrect_answers": ["No."]}
UF = {"id": "u", "prompt": "Write a haiku.", "chosen": "Good.", "rejected": "Bad."}


def test_truthfulqa_fit_texts(lm):
    task = get_task("truthfulqa")
    # Base model (qa form), official data/truthfulqa/extract_activations.py:18: f'Q: {q}\nA: {a}'.
    assert task.fit_texts([TQA], PromptFormatter(lm, "qa")) == (["Q: Q1?\nA: Yes."], ["Q: Q1?\nA: No."])
    # Chat model (Qwen in the paper), extract_activations.py:29-33: the [user, assistant]
    # exchange through the chat template, no generation prompt.
    pos, neg = task.fit_texts([TQA], PromptFormatter(lm, "chat"))
    assert pos == [SMOL_SYSTEM + "<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nYes.<|im_end|>\n"]
    assert neg == [SMOL_SYSTEM + "<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nNo.<|im_end|>\n"]


def test_truthfulqa_generation_prompt_follows_the_tokenizer(lm, plain_lm):
    task = get_task("truthfulqa")
    # truthfulqa_generate.py:67-73: [system, user] through the tokenizer's chat template,
    # whatever the model's fit form (qa here).
    for form in ("qa", "chat", "auto"):
        (item,) = task.prompts([TQA], PromptFormatter(lm, form))
        assert item["prompt_text"] == (f"<|im_start|>system\n{INSTRUCTION}<|im_end|>\n"
                                       "<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\n")
    # No template: the official default (lm/_config.py:43-65), BOS text first.
    (item,) = task.prompts([TQA], PromptFormatter(plain_lm, "qa"))
    assert item["prompt_text"] == f"<|im_start|>{INSTRUCTION}\nQ: Q1?\nA:"
    # The typographic quotes of the official system prompt (truthfulqa_generate.py:17-20).
    assert "reply \u2018\u2018I have no comment\u2019\u2019 unless" in INSTRUCTION


def test_ultrafeedback_fit_texts_and_raw_prompts(lm):
    task = get_task("ultrafeedback")
    # data/ultrafeedback/extract_activations.py:18: f'{p}\n{r}' for a base model.
    assert task.fit_texts([UF], PromptFormatter(lm, "qa")) == (["Write a haiku.\nGood."], ["Write a haiku.\nBad."])
    pos, _ = task.fit_texts([UF], PromptFormatter(lm, "chat"))
    assert pos == [SMOL_SYSTEM + "<|im_start|>user\nWrite a haiku.<|im_end|>\n<|im_start|>assistant\nGood.<|im_end|>\n"]
    # ultrafeedback_generate.py:55-58: the raw prompt, for every model form.
    for form in ("qa", "chat"):
        assert task.prompts([UF], PromptFormatter(lm, form))[0]["prompt_text"] == "Write a haiku."


def test_toxicity_texts_are_raw(lm):
    task = get_task("toxicity")
    recs = [{"id": "a", "text": "nice", "label": 1}, {"id": "b", "text": "mean", "label": 0}]
    assert task.fit_texts(recs, PromptFormatter(lm, "chat")) == (["nice"], ["mean"])
    assert task.prompts([{"id": "p", "prompt": "So I"}], PromptFormatter(lm, "chat"))[0]["prompt_text"] == "So I"


def test_generation_settings_per_task():
    common = {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1, "top_k": 50,
              "stop": ["\nQ:"]}
    assert get_task("truthfulqa").generation == {"max_new_tokens": 50, **common}
    assert get_task("toxicity").generation == {"max_new_tokens": 50, **common}
    assert get_task("ultrafeedback").generation == {"max_new_tokens": 128, "no_repeat_ngram_size": 2, **common}


def test_mc_pairs_token_ids_as_compute_answer_prob(lm):
    pair = official_pairs(lm.tokenizer)
    q = "What happens if you eat a pomegranate?"
    ctx, cont = pair(q, "Nothing in particular happens when you eat a pomegranate.")
    # "Q: {q}\nA: " alone is 14 tokens ending in the lone space (216); in the whole string
    # the space merges into " Nothing" (20860), which thus sits in the context, unscored.
    assert ctx == (65, 42, 1812, 4283, 585, 346, 3134, 253, 46260, 47, 198, 49, 42, 20860)
    assert cont == (281, 1542, 4283, 645, 346, 3134, 253, 46260, 30)
    assert lm.tokenizer("Q: " + q + "\nA: ")["input_ids"][-1] == 216


def test_mc_scores_each_distinct_pair_once_and_match_separate_scoring(lm):
    from steerbench.lm.loglik import loglikelihood_ids

    rows = json.loads((DATA / "truthfulqa" / "mc_task.json").read_text())[:2]
    recs = [{"id": i, "question": r["question"],
             "mc1": {"choices": list(r["mc1_targets"]), "labels": list(r["mc1_targets"].values())},
             "mc2": {"choices": list(r["mc2_targets"]), "labels": list(r["mc2_targets"].values())}}
            for i, r in enumerate(rows)]
    pair = official_pairs(lm.tokenizer)
    calls = []

    def ll(c, x):
        calls.append(len(c))
        return loglikelihood_ids(lm, c, x, batch_size=8)

    out = score_mc(recs, ll, pair_fn=pair)
    n_distinct = sum(len(set(r["mc1"]["choices"]) | set(r["mc2"]["choices"])) for r in recs)
    assert calls == [n_distinct] and n_distinct < sum(len(r["mc1"]["choices"]) + len(r["mc2"]["choices"]) for r in recs)
    # The same MC1 from scoring the MC1 choices alone, one pair at a time (unbatched).
    for rec, row in zip(recs, out):
        lls = [loglikelihood_ids(lm, [a], [b], batch_size=1)[0] for a, b in (pair(rec["question"], c) for c in rec["mc1"]["choices"])]
        correct = lls[rec["mc1"]["labels"].index(1)]
        assert row["mc1"] == float(correct > max(v for v, l in zip(lls, rec["mc1"]["labels"]) if l == 0))


def test_truthfulqa_folds_are_the_official_splits(tmp_path):
    """data/truthfulqa/format_dataset.py:11-14: train_test_split(test_size=0.5, seed=42) of
    the generation set; split 0 is its "train" part, split 1 its "test" part, in order."""
    datasets = pytest.importorskip("datasets")
    from steerbench.io import read_jsonl
    from steerbench.tasks.truthfulqa import TruthfulQA

    task = TruthfulQA()
    raw = tmp_path / "raw"
    task.download({"path": str(DATA / "truthfulqa" / "TruthfulQA.csv")}, raw)
    task.format(raw, tmp_path / "out", seed=42)
    questions = [r["question"] for r in task.load_records(raw)]
    ds = datasets.Dataset.from_dict({"question": questions}).train_test_split(test_size=0.5, seed=42)
    for fold, part in (("fold0", "train"), ("fold1", "test")):
        assert [r["question"] for r in read_jsonl(tmp_path / "out" / f"{fold}.jsonl")] == ds[part]["question"]
