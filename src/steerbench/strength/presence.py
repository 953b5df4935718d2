"""Concept presence under steering, judged by a language model, and its sigmoid in alpha.

Texts are generated from the contexts under steering (greedy by default, so a row's text
does not depend on which alphas share its batch and cached alphas stay valid), then a
judge (any HF causal LM; on the demo the demo model itself) is asked whether each text
expresses the concept. The score is P(Yes) / (P(Yes) + P(No)) at the judge's next token;
presence at alpha is its mean over texts. A four-parameter sigmoid
lo + (hi - lo) / (1 + exp(-k (alpha - mid))) is fitted to presence against alpha.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from steerbench.lm.batching import check_batch_size, encode, input_device, pad_left
from steerbench.lm.model import LM
from steerbench.progress import progress_iter
from steerbench.strength.forward import last_logits
from steerbench.strength.hook import alpha_steering

JUDGE_QUESTION = (
    "Text:\n{text}\n\nDoes the text above express the concept \"{concept}\" (any word linked to the concept is enough)? "
    "Answer Yes or No."
)


def steered_texts(lm: LM, contexts: Sequence[str], layer: int, steerer, alphas: Sequence[float], max_new_tokens: int = 32,
                  batch_size: int = 32) -> dict[float, list[str]]:
    """Greedy continuations of every context under every alpha (rows = contexts x alphas)."""
    check_batch_size(batch_size)
    tok = lm.tokenizer
    ids = encode(tok, list(contexts))
    device = input_device(lm.model)
    rows = [(c, a) for a in range(len(alphas)) for c in range(len(contexts))]
    texts: dict[tuple[int, int], str] = {}
    with torch.inference_mode():
        for start in progress_iter(range(0, len(rows), batch_size), f"presence L{layer}", unit="batch"):
            part = rows[start : start + batch_size]
            input_ids, mask = pad_left([ids[c] for c, _ in part], tok.pad_token_id, device)
            with alpha_steering(lm.layer(layer), steerer, torch.tensor([float(alphas[a]) for _, a in part]), mask):
                out = lm.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                        repetition_penalty=1.1, pad_token_id=tok.pad_token_id, top_p=None, top_k=None, temperature=None)
            for (c, a), text in zip(part, tok.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)):
                texts[(c, a)] = text
    return {alphas[a]: [texts[(c, a)] for c in range(len(contexts))] for a in range(len(alphas))}


def _answer_ids(tokenizer, word: str) -> list[int]:
    return sorted({tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in (word, " " + word)})


def judge_presence(judge: LM, texts: Sequence[str], concept: str, batch_size: int = 16, max_chars: int = 2000) -> list[float]:
    """P(Yes) / (P(Yes) + P(No)) of the judge for each text."""
    check_batch_size(batch_size)
    tok = judge.tokenizer
    prompts = []
    for text in texts:
        question = JUDGE_QUESTION.format(text=text[:max_chars], concept=concept)
        if getattr(tok, "chat_template", None):
            prompts.append(tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True))
        else:
            prompts.append(question + "\nAnswer:")
    ids = encode(tok, prompts)
    yes, no = _answer_ids(tok, "Yes"), _answer_ids(tok, "No")
    device = input_device(judge.model)
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            input_ids, mask = pad_left(ids[start : start + batch_size], tok.pad_token_id, device)
            p = torch.softmax(last_logits(judge.model, input_ids, mask).double(), -1)
            p_yes, p_no = p[:, yes].sum(1), p[:, no].sum(1)
            scores += (p_yes / (p_yes + p_no).clamp_min(1e-300)).tolist()
    return scores


def sigmoid(alpha, lo, hi, k, mid):
    return lo + (hi - lo) / (1.0 + np.exp(-k * (np.asarray(alpha, dtype=float) - mid)))


def fit_sigmoid(alphas: Sequence[float], presence: Sequence[float]) -> dict:
    """Least-squares fit of the four-parameter sigmoid; {"ok": False, ...} when it does not converge."""
    from scipy.optimize import curve_fit

    x, y = np.asarray(alphas, dtype=float), np.asarray(presence, dtype=float)
    if len(x) < 4:
        return {"ok": False, "reason": f"{len(x)} points, a sigmoid needs at least 4"}
    span = float(x.max() - x.min()) or 1.0
    rising = np.corrcoef(x, y)[0, 1] >= 0 if y.std() > 0 else True
    p0 = [float(y.min()), float(y.max()), (8.0 if rising else -8.0) / span, float(x[np.argmin(np.abs(y - (y.min() + y.max()) / 2))])]
    try:
        params, _ = curve_fit(sigmoid, x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as e:
        return {"ok": False, "reason": str(e).splitlines()[0]}
    lo, hi, k, mid = (float(v) for v in params)
    residual = float(np.sqrt(np.mean((sigmoid(x, *params) - y) ** 2)))
    ok = all(math.isfinite(v) for v in (lo, hi, k, mid))
    # A midpoint outside the measured alphas is an extrapolation, not a measured transition.
    inside = ok and float(x.min()) <= mid <= float(x.max())
    return {"ok": ok, "lo": lo, "hi": hi, "k": k, "midpoint": mid, "midpoint_in_grid": inside, "rmse": residual}
