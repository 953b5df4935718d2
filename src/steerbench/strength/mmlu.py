"""MMLU accuracy against alpha, k-shot (5 by default) with the dev split as shots.

Two scorings: "generation" as in the paper's code (8 greedy new tokens, the first A-D
letter found; none found counts as "A", as their code does), and "loglik" (the letter
with the highest next-token probability after "Answer:"). Rows = questions x alphas, so
each forward (or greedy decode) serves many alphas.
"""

from __future__ import annotations

import re
from typing import Sequence

import torch

from steerbench.lm.batching import check_batch_size, encode, input_device, pad_left
from steerbench.lm.model import LM
from steerbench.progress import progress_iter
from steerbench.strength.forward import last_logits
from steerbench.strength.hook import alpha_steering
from steerbench.strength.loaders import LETTERS, MCQuestion

SCORINGS = ("generation", "loglik")


def _format_question(q: MCQuestion, answer: bool) -> str:
    text = q.question + "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, q.choices)) + "\nAnswer:"
    return text + f" {q.answer}\n\n" if answer else text


def mmlu_prompt(q: MCQuestion, shots: Sequence[MCQuestion]) -> str:
    """The classic MMLU k-shot prompt (Hendrycks et al.), ending in "Answer:"."""
    header = f"The following are multiple choice questions (with answers) about {q.subject.replace('_', ' ')}.\n\n"
    return header + "".join(_format_question(s, True) for s in shots) + _format_question(q, False)


def build_prompts(lm: LM, questions: Sequence[MCQuestion], dev: Sequence[MCQuestion], n_shots: int = 5, chat: bool = False) -> list[str]:
    """One prompt per question, its shots the first `n_shots` dev questions of its subject."""
    by_subject: dict[str, list[MCQuestion]] = {}
    for d in dev:
        by_subject.setdefault(d.subject, []).append(d)
    prompts = []
    for q in questions:
        shots = by_subject.get(q.subject, [])
        if len(shots) < n_shots:
            raise ValueError(f"MMLU subject {q.subject!r} has {len(shots)} dev questions, fewer than n_shots={n_shots}")
        text = mmlu_prompt(q, shots[:n_shots])
        if chat:
            if not getattr(lm.tokenizer, "chat_template", None):
                raise ValueError(f"mmlu.chat is true but the tokenizer of {lm.name} has no chat template; set it false")
            text = lm.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        prompts.append(text)
    return prompts


def first_letter(text: str) -> str | None:
    """The answer letter in a generated continuation, as the paper's code reads it."""
    s = text.strip()
    if s and s[0].upper() in LETTERS:
        return s[0].upper()
    for pattern in (r"\b([A-D])\b", r"\b([A-D])\s*[\).]"):
        m = re.search(pattern, s, flags=re.IGNORECASE)
        if m:
            return m.group(1).upper()
    return None


def letter_token_ids(tokenizer) -> list[list[int]]:
    """For each letter, the first token of "A" and of " A" (the variants a prompt may be followed by)."""
    out = []
    for letter in LETTERS:
        ids = {tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in (letter, " " + letter)}
        out.append(sorted(ids))
    return out


def _batches(n_items: int, n_alphas: int, batch_size: int):
    per_item = max(1, batch_size // max(1, n_alphas))
    per_alpha = max(1, batch_size // per_item)
    for i0 in range(0, n_items, per_item):
        for a0 in range(0, n_alphas, per_alpha):
            yield range(i0, min(n_items, i0 + per_item)), range(a0, min(n_alphas, a0 + per_alpha))


def mmlu_predictions(lm: LM, prompts: Sequence[str], layer: int, steerer, alphas: Sequence[float], scoring: str = "generation",
                     batch_size: int = 16, max_new_tokens: int = 8) -> dict[float, list[str]]:
    """The predicted letter of every prompt, per alpha."""
    if scoring not in SCORINGS:
        raise ValueError(f"MMLU scoring {scoring!r} is not one of {', '.join(SCORINGS)}")
    check_batch_size(batch_size)
    tok = lm.tokenizer
    ids = encode(tok, list(prompts))
    device = input_device(lm.model)
    letters = letter_token_ids(tok)
    preds: dict[int, dict[int, str]] = {i: {} for i in range(len(alphas))}
    with torch.inference_mode():
        batches = list(_batches(len(prompts), len(alphas), batch_size))
        for items, alpha_idx in progress_iter(batches, f"mmlu L{layer}", unit="batch"):
            rows = [(i, a) for a in alpha_idx for i in items]
            input_ids, mask = pad_left([ids[i] for i, _ in rows], tok.pad_token_id, device)
            row_alphas = torch.tensor([float(alphas[a]) for _, a in rows])
            with alpha_steering(lm.layer(layer), steerer, row_alphas, mask):
                if scoring == "loglik":
                    logp = torch.log_softmax(last_logits(lm.model, input_ids, mask).float(), -1)
                    scores = torch.stack([logp[:, v].max(dim=1).values for v in letters], dim=1)
                    answers = [LETTERS[int(j)] for j in scores.argmax(1)]
                else:
                    out = lm.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                            pad_token_id=tok.pad_token_id, top_p=None, top_k=None, temperature=None)
                    texts = tok.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
                    answers = [first_letter(t) or "A" for t in texts]
            for (i, a), ans in zip(rows, answers):
                preds[a][i] = ans
    return {alphas[a]: [preds[a][i] for i in range(len(prompts))] for a in range(len(alphas))}


def accuracy_points(questions: Sequence[MCQuestion], preds: dict[float, list[str]]) -> dict[float, dict]:
    gold = [q.answer for q in questions]
    return {a: {"pred": p, "correct": sum(x == y for x, y in zip(p, gold)), "n": len(gold)} for a, p in preds.items()}
