"""Math accuracy on the real GSM8K and MATH answer formats (shared data)."""

from __future__ import annotations

import json
import random

import pytest

from steerbench.scoring.math_accuracy import (accuracy, gsm8k_gold, gsm8k_prediction, last_boxed, math_equal,
                                              score_gsm8k, score_math)


def test_gsm8k_reference_solutions_score_as_correct(shared_data):
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()]
    assert all(isinstance(gsm8k_gold(r["answer"]), float) for r in rows)  # every gold answer parses
    gen = [{"id": i, "generation": r["answer"].replace("####", "The answer is"), "answer": r["answer"]}
           for i, r in enumerate(rows[:300])]
    assert accuracy(score_gsm8k(gen)) == 1.0
    shuffled = [dict(g, answer=rows[(i + 1) % 300]["answer"]) for i, g in enumerate(gen)]
    assert accuracy(score_gsm8k(shuffled)) < 0.1


def test_gsm8k_prefers_the_boxed_answer_and_reads_separators():
    assert gsm8k_prediction("So 3 + 4 = 7, giving \\boxed{1,250} dollars in 2 days") == 1250.0
    assert gsm8k_prediction("She pays $18.00 in total.") == 18.0
    assert gsm8k_prediction("no digits here") is None
    rows = [{"id": 0, "generation": "\\boxed{2280}", "answer": "2280"},  # AlphaSteer's sampled file
            {"id": 1, "generation": "It is 5", "answer": "... #### 6"}]
    assert [s["correct"] for s in score_gsm8k(rows)] == [1.0, 0.0]
    with pytest.raises(ValueError, match="no final number"):
        gsm8k_gold("#### many")


def test_math_reference_solutions_score_as_correct(shared_data):
    rows = json.loads((shared_data / "alphasteer" / "test" / "math_500_sampled.json").read_text())
    gen = [{"id": i, "generation": r["solution"], "answer": r["answer"]} for i, r in enumerate(rows)]
    assert accuracy(score_math(gen)) >= 0.95
    random.Random(0).shuffle(answers := [r["answer"] for r in rows])
    wrong = [dict(g, answer=a) for g, a in zip(gen, answers)]
    assert accuracy(score_math(wrong)) < 0.2


def test_boxed_extraction_and_normalisation():
    assert last_boxed("first \\boxed{1} then \\boxed{\\frac{a}{b}}.") == "\\frac{a}{b}"
    assert last_boxed("\\boxed{unclosed") is None and last_boxed("none") is None
    assert math_equal("\\dfrac{3}{4}", "\\frac34") is False  # no symbolic equivalence (documented)
    assert math_equal("\\dfrac{3}{4}", "\\frac{3}{4}")
    assert math_equal("\\text{(C)}", "(C)") and math_equal("90^\\circ", "90") and math_equal("5.0", "5")
    assert not math_equal("6", "5")
