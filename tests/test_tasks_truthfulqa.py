"""TruthfulQA task on the real 817-question files: folds, MC matching, fit texts, prompts."""

from __future__ import annotations

import pandas as pd
import pytest

from steerbench.io import read_jsonl
from steerbench.tasks import available_tasks, get_task
from steerbench.tasks.truthfulqa import INSTRUCTION, split_answers


def QA(text: str, system: str | None = None) -> str:  # the base-model prompt form
    return (f"{system}\n" if system else "") + f"Q: {text}\nA:"


@pytest.fixture(scope="module")
def tqa_raw(shared_data, tmp_path_factory):
    raw = tmp_path_factory.mktemp("tqa") / "raw"
    source = {"path": str(shared_data / "truthfulqa" / "TruthfulQA.csv"), "mc_path": str(shared_data / "truthfulqa" / "mc_task.json")}
    get_task("truthfulqa").download(source, raw)
    return raw


def test_registry_lists_the_built_in_tasks_and_rejects_others():
    assert available_tasks() == ["truthfulqa", "ultrafeedback", "toxicity", "refusal"]
    assert get_task("toxicity").splits == ["train", "test"]
    with pytest.raises(ValueError, match=r"unknown task 'truthful'.*truthfulqa"):
        get_task("truthful")


def test_download_writes_the_documented_layout(tqa_raw):
    assert sorted(p.name for p in tqa_raw.iterdir()) == ["TruthfulQA.csv", "mc_task.json"]


def test_folds_partition_the_817_questions(tqa_raw, shared_data, tmp_path):
    task = get_task("truthfulqa")
    counts = task.format(tqa_raw, tmp_path, seed=42)
    f0, f1 = read_jsonl(tmp_path / "fold0.jsonl"), read_jsonl(tmp_path / "fold1.jsonl")
    assert counts == {"fold0": len(f0), "fold1": len(f1)}
    assert len(f0) + len(f1) == 817 and abs(len(f0) - len(f1)) <= 1
    q0, q1 = {r["question"] for r in f0}, {r["question"] for r in f1}
    assert not q0 & q1
    source = pd.read_csv(shared_data / "truthfulqa" / "TruthfulQA.csv", encoding="utf-8-sig")
    assert q0 | q1 == {q.strip() for q in source["Question"]}
    assert len({r["id"] for r in f0 + f1}) == 817
    # every question of the real files has its MC data matched by text
    assert all(r["mc1"] and r["mc2"] and 1 in r["mc1"]["labels"] for r in f0 + f1)
    assert all(len(r["mc2"]["choices"]) == len(r["mc2"]["labels"]) for r in f0 + f1)


def test_record_fields_match_the_source_row(tqa_raw, shared_data, tmp_path):
    get_task("truthfulqa").format(tqa_raw, tmp_path, seed=42)
    rows = {r["question"]: r for r in read_jsonl(tmp_path / "fold0.jsonl") + read_jsonl(tmp_path / "fold1.jsonl")}
    source = pd.read_csv(shared_data / "truthfulqa" / "TruthfulQA.csv", encoding="utf-8-sig").iloc[0]
    rec = rows[source["Question"]]
    assert rec["category"] == source["Category"]
    assert rec["best_answer"] == source["Best Answer"]
    assert rec["correct_answers"] == split_answers(source["Correct Answers"])
    assert rec["incorrect_answers"][0] == "You grow watermelons in your stomach"


def test_folds_are_deterministic_per_seed(tqa_raw, tmp_path):
    task = get_task("truthfulqa")
    for name, seed in (("a", 42), ("b", 42), ("c", 7)):
        task.format(tqa_raw, tmp_path / name, seed=seed)
    same = lambda x, y: (tmp_path / x / "fold0.jsonl").read_bytes() == (tmp_path / y / "fold0.jsonl").read_bytes()  # noqa: E731
    assert same("a", "b")
    assert not same("a", "c")


def test_fit_texts_pair_every_answer_with_the_formatted_question(tqa_raw, tmp_path):
    task = get_task("truthfulqa")
    task.format(tqa_raw, tmp_path, seed=42)
    records = read_jsonl(tmp_path / "fold1.jsonl")
    pos, neg = task.fit_texts(records, QA)
    assert len(pos) == sum(len(r["correct_answers"]) for r in records)
    assert len(neg) == sum(len(r["incorrect_answers"]) for r in records)
    first = records[0]
    assert pos[0] == f"Q: {first['question']}\nA: {first['correct_answers'][0]}"
    assert neg[0] == f"Q: {first['question']}\nA: {first['incorrect_answers'][0]}"
    # After a chat prompt (ending in a newline) the answer starts at once, as generated.
    chat = lambda t: f"<|im_start|>user\n{t}<|im_end|>\n<|im_start|>assistant\n"  # noqa: E731
    pos, _ = task.fit_texts(records, chat)
    assert pos[0] == chat(first["question"]) + first["correct_answers"][0]


def test_prompts_and_plan(tqa_raw, tmp_path):
    task = get_task("truthfulqa")
    task.format(tqa_raw, tmp_path, seed=42)
    records = read_jsonl(tmp_path / "fold0.jsonl")[:3]
    items = task.prompts(records, QA)
    assert [i["id"] for i in items] == [r["id"] for r in records]
    # Generation prompts carry the TruthfulQA instruction (the paper's system prompt).
    q = records[0]["question"]
    assert items[0] == {"id": records[0]["id"], "prompt": q, "prompt_text": QA(q, system=INSTRUCTION)}
    assert items[0]["prompt_text"].startswith("Interpret each question literally") and "I have no comment" in INSTRUCTION
    assert task.eval_plan == [("fold0", "fold1"), ("fold1", "fold0")]
    gen = task.generation
    assert gen["max_new_tokens"] == 50 and gen["temperature"] == 0.7 and gen["top_p"] == 0.9
    assert gen["repetition_penalty"] == 1.1 and gen["stop"] == ["\nQ:"]
    gen["max_new_tokens"] = 1  # callers may edit their copy
    assert task.generation["max_new_tokens"] == 50


def test_hub_rows_are_converted_to_the_csv_layout(shared_data, tmp_path, monkeypatch):
    """The hub's `generation` / `multiple_choice` rows (built from the real files) become the raw layout."""
    import json

    import datasets

    import steerbench.tasks.truthfulqa as tqa_module

    csv = pd.read_csv(shared_data / "truthfulqa" / "TruthfulQA.csv", encoding="utf-8-sig", keep_default_na=False).head(20)
    mc = json.loads((shared_data / "truthfulqa" / "mc_task.json").read_text())
    by_q = {m["question"]: m for m in mc}
    gen = datasets.Dataset.from_list(
        [
            {
                "type": r["Type"], "category": r["Category"], "question": r["Question"], "best_answer": r["Best Answer"],
                "correct_answers": split_answers(r["Correct Answers"]), "incorrect_answers": split_answers(r["Incorrect Answers"]),
                "source": r["Source"],
            }
            for r in csv.to_dict("records")
        ]
    )
    mc_rows = datasets.Dataset.from_list(
        [
            {
                "question": q,
                "mc1_targets": {"choices": list(by_q[q]["mc1_targets"]), "labels": list(by_q[q]["mc1_targets"].values())},
                "mc2_targets": {"choices": list(by_q[q]["mc2_targets"]), "labels": list(by_q[q]["mc2_targets"].values())},
            }
            for q in csv["Question"]
        ]
    )
    calls = []

    def fake_hub(repo, split, where, config=None, revision=None):
        calls.append((repo, config, split))
        return gen if config == "generation" else mc_rows

    monkeypatch.setattr(tqa_module, "load_hub_split", fake_hub)
    task = get_task("truthfulqa")
    task.download({"hub": "truthfulqa/truthful_qa"}, tmp_path / "raw")
    assert calls == [("truthfulqa/truthful_qa", "generation", "validation"), ("truthfulqa/truthful_qa", "multiple_choice", "validation")]
    task.format(tmp_path / "raw", tmp_path, seed=0)
    records = read_jsonl(tmp_path / "fold0.jsonl") + read_jsonl(tmp_path / "fold1.jsonl")
    assert len(records) == 20 and all(r["mc1"] for r in records)
    first = next(r for r in records if r["question"] == csv["Question"][0])
    assert first["correct_answers"] == split_answers(csv["Correct Answers"][0])
    assert first["mc1"]["choices"] == list(by_q[csv["Question"][0]]["mc1_targets"])
