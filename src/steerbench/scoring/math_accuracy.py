"""Math accuracy: GSM8K by final-number exact match, MATH by the boxed answer.

GSM8K: the gold answer is the number after "####" (or the whole field when it is just a
number, as in AlphaSteer's sampled file); the prediction is the last \\boxed{...} when the
response has one (AlphaSteer's prompt asks for it), else the last number in the response.
Numbers compare by value after dropping thousands separators, "$" and "%".

MATH: the last \\boxed{...} (braces balanced) of the response against the gold answer,
both normalised (spaces, \\left/\\right, \\! and \\, spacing, dfrac/tfrac -> frac, a
trailing period, \\text{...} wrappers, degree signs, surrounding $); equal when the strings
are, or when both read as the same number. No symbolic equivalence (no sympy): "1/2" and
"\\frac{1}{2}" count as different, which undercounts a little, the same for every method.

Score rows: {"id", "correct": 0.0 | 1.0, "error": None}; accuracy = mean correct.
"""

from __future__ import annotations

import re
from typing import Sequence

from ._util import check_rows

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) with balanced braces, else None."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def to_number(text: str) -> float | None:
    t = text.strip().replace(",", "").replace("$", "").replace("%", "").rstrip(".")
    try:
        return float(t)
    except ValueError:
        return None


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return to_number(found[-1]) if found else None


def gsm8k_gold(answer: str) -> float:
    tail = answer.split("####")[-1]
    value = to_number(tail)
    if value is None:
        raise ValueError(f"GSM8K gold answer {answer[-60:]!r} has no final number after '####'")
    return value


def gsm8k_prediction(response: str) -> float | None:
    boxed = last_boxed(response)
    if boxed is not None:
        value = to_number(normalise_math(boxed))
        if value is not None:
            return value
    return last_number(response)


def normalise_math(ans: str) -> str:
    s = ans.strip()
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:mbox|mathrm)\{([^{}]*)\}", r"\1", s)
    for old, new in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\dfrac", "\\frac"),
                     ("\\tfrac", "\\frac"), ("^\\circ", ""), ("^{\\circ}", ""), ("\\%", ""), ("$", "")):
        s = s.replace(old, new)
    s = re.sub(r"\s+", "", s).rstrip(".")
    return s


def math_equal(pred: str, gold: str) -> bool:
    p, g = normalise_math(pred), normalise_math(gold)
    if p == g:
        return True
    a, b = to_number(p), to_number(g)
    return a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))


def score_gsm8k(rows: Sequence[dict]) -> list[dict]:
    """Rows need "id", "generation" and "answer" (the gold GSM8K answer field)."""
    check_rows(rows, ("id", "generation", "answer"), "score_gsm8k")
    out = []
    for r in rows:
        pred, gold = gsm8k_prediction(r["generation"]), gsm8k_gold(str(r["answer"]))
        ok = pred is not None and abs(pred - gold) <= 1e-6 * max(1.0, abs(gold))
        out.append({"id": r["id"], "correct": float(ok), "error": None})
    return out


def score_math(rows: Sequence[dict]) -> list[dict]:
    """Rows need "id", "generation" and "answer" (MATH's final answer)."""
    check_rows(rows, ("id", "generation", "answer"), "score_math")
    out = []
    for r in rows:
        boxed = last_boxed(r["generation"])
        ok = boxed is not None and math_equal(boxed, str(r["answer"]))
        out.append({"id": r["id"], "correct": float(ok), "error": None})
    return out


def accuracy(scores: Sequence[dict]) -> float:
    vals = [s["correct"] for s in scores if s.get("correct") is not None]
    if not vals:
        raise ValueError("accuracy: no scored rows; nothing to average")
    return sum(vals) / len(vals)


# ---------------------------------------------------------------------------- workflow
# Scorer `math_accuracy`: the refusal task's GSM8K / MATH items, gold answers from the eval
# split files; the table shows one column per set and Avg Utility (steerbench.tables_refusal).

from steerbench.metrics import MetricSpec  # noqa: E402
from steerbench.scoring.registry import ScorerSpec  # noqa: E402


def _score_job(job) -> list[dict]:
    gold = {r["id"]: r.get("answer") for r in job.records()}
    rows = job.generation_rows()  # GSM8K and MATH only (tasks.refusal.SCORED_SETS)
    missing = [r["id"] for r in rows if gold.get(r["id"]) is None]
    if missing:
        raise ValueError(f"math_accuracy: no gold answer for {missing[:3]} in the eval splits; rerun format_refusal")
    rows = [{**r, "answer": gold[r["id"]]} for r in rows]
    by_set = {"gsm8k": score_gsm8k, "math": score_math}
    return [s for name, fn in by_set.items() for s in fn([r for r in rows if r["split"] == name])]


SPEC = ScorerSpec(
    name="math_accuracy",
    score=_score_job,
    raw_metrics=("correct",),
    table_metrics=(
        MetricSpec("acc_gsm8k", "GSM8K", (("math_accuracy", "acc_gsm8k"),), "mean", True, headline=False),
        MetricSpec("acc_math", "MATH", (("math_accuracy", "acc_math"),), "mean", True, headline=False),
        # AlpacaEval, from the reward scorer's rows on that set (renamed by tables_refusal.expand_scores):
        # declared here so the utility columns keep the papers' order, Avg Utility last.
        MetricSpec("win_alpaca_eval", "AlpacaEval", (("reward", "reward_alpaca_eval"),), "win_rate", True,
                   ratio_scale=False, headline=False),
        # Computed across XSTest compliance, the accuracies and the AlpacaEval win rate by
        # tables_refusal.add_averages.
        MetricSpec("avg_utility", "Avg Utility", (("math_accuracy", "avg_utility"),), "mean", True),
    ),
    column_rank=25,
    tasks=("refusal",),
    inputs=("generations", "eval_splits"),
    resources={"mem_mb": 2000, "runtime": 10},
)
