"""Validation splits for select_T: held apart from the test items, and the test splits and
fit data unchanged (real TruthfulQA and RealToxicityPrompts records from ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steerbench.io import read_jsonl
from steerbench.tasks import get_task
from steerbench.tasks.validation import derived_splits, validation_plan, write_validation_splits

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.jsonl"))}


def test_plans():
    assert validation_plan("truthfulqa") == [("fold0_valfit", "fold0_val"), ("fold1_valfit", "fold1_val")]
    assert validation_plan("toxicity") == [("train", "val")]
    assert validation_plan("ultrafeedback") == [("train", "val")]  # its format writes `val`
    assert derived_splits("ultrafeedback") == [] and derived_splits("toxicity") == ["val"]


def test_truthfulqa_holds_questions_apart_inside_each_fold(tmp_path):
    t = get_task("truthfulqa")
    raw = t.download({"path": str(DATA / "truthfulqa" / "TruthfulQA.csv")}, tmp_path / "raw")
    out = tmp_path / "splits"
    t.format(raw, out, seed=42)
    before = _bytes(out)
    counts = write_validation_splits("truthfulqa", out, 42, 40)
    assert counts == {"fold0_valfit": 368, "fold0_val": 40, "fold1_valfit": 369, "fold1_val": 40}
    assert {k: v for k, v in _bytes(out).items() if k in before} == before  # the folds stay as they are
    for fold, other in (("fold0", "fold1"), ("fold1", "fold0")):
        ids = [r["id"] for r in read_jsonl(out / f"{fold}.jsonl")]
        fit = [r["id"] for r in read_jsonl(out / f"{fold}_valfit.jsonl")]
        val = [r["id"] for r in read_jsonl(out / f"{fold}_val.jsonl")]
        assert not set(fit) & set(val) and sorted(fit + val) == sorted(ids)
        assert fit == [i for i in ids if i in set(fit)]  # fold order kept
        # The validation questions are never the other fold's (the test) questions.
        assert not set(val) & {r["id"] for r in read_jsonl(out / f"{other}.jsonl")}
    again = tmp_path / "again"
    t.format(raw, again, seed=42)
    write_validation_splits("truthfulqa", again, 42, 40)
    assert _bytes(again) == _bytes(out)  # seeded
    with pytest.raises(ValueError, match=r"select_T.n_val=407: fold0 has 408 questions.*between 1 and 406"):
        write_validation_splits("truthfulqa", out, 42, 407)


def test_toxicity_val_prompts_are_held_apart_from_the_test_prompts(tmp_path):
    t = get_task("toxicity")
    rtp = DATA / "realtoxicityprompts" / "challenging_toxic.jsonl"
    jigsaw = tmp_path / "jigsaw.csv"
    from steerbench.tasks.toxicity import jigsaw_from_rtp

    jigsaw_from_rtp([rtp, DATA / "realtoxicityprompts" / "nontoxic.jsonl"], jigsaw)
    raw = t.download({"jigsaw": {"path": str(jigsaw)}, "rtp": {"path": str(rtp)}}, tmp_path / "raw")
    out = tmp_path / "splits"
    t.format(raw, out, seed=42, n_per_bin=8, n_test=100)
    before = _bytes(out)
    assert write_validation_splits("toxicity", out, 42, 50, raw_dir=raw, n_per_bin=8, n_test=100) == {"val": 50}
    assert _bytes(out)["train.jsonl"] == before["train.jsonl"] and _bytes(out)["test.jsonl"] == before["test.jsonl"]
    test, val = read_jsonl(out / "test.jsonl"), read_jsonl(out / "val.jsonl")
    assert not {r["id"] for r in val} & {r["id"] for r in test}
    assert not {r["prompt"] for r in val} & {r["prompt"] for r in test}
    records = [json.loads(line) for line in rtp.read_text().splitlines()]
    for r in val:  # real RTP prompts of the test's kind (challenging)
        rec = records[int(r["id"].split("-")[1])]
        assert rec["prompt"]["text"] == r["prompt"] and rec["challenging"] is True
    with pytest.raises(ValueError, match=r"select_T.n_val=501: .* 500 prompts of the test's kind outside the test set"):
        write_validation_splits("toxicity", out, 42, 501, raw_dir=raw)


def test_toxicity_official_selection_uses_the_official_val_part(tmp_path):
    """With the official RTP selection, the validation prompts are the official code's own
    val part (the n_test toxic rows before the test part of the same shuffle)."""
    from steerbench.tasks.toxicity import official_rtp_test, official_rtp_val

    rows = [json.loads(line) for f in ("challenging_toxic.jsonl", "nontoxic.jsonl")
            for line in (DATA / "realtoxicityprompts" / f).read_text().splitlines()]
    ppl = [None if i % 7 == 0 else (250.0 if i % 5 == 0 else 10.0 + i % 50) for i in range(len(rows))]
    test = official_rtp_test(rows, ppl, n_test=40, n_per_bin=30)
    val = official_rtp_val(rows, ppl, n_test=40, n_per_bin=30)
    assert len(val) == 40 and not {r["id"] for r in val} & {r["id"] for r in test}
    assert all(r["prompt_toxicity"] > 0.5 and ppl[int(r["id"].split("-")[1])] < 200 for r in val)
    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "rtp").mkdir(parents=True)
    (raw / "rtp" / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ppl.jsonl").write_text("".join(json.dumps({"index": i, "ppl": p}) + "\n" for i, p in enumerate(ppl)))
    from steerbench.io import write_jsonl

    write_jsonl(out / "test.jsonl", official_rtp_test(rows, ppl, n_test=40))
    got = write_validation_splits("toxicity", out, 0, 30, raw_dir=raw, selection="official",
                                  ppl_path=str(tmp_path / "ppl.jsonl"), n_test=40, n_per_bin=7)
    assert got == {"val": 30}
    assert read_jsonl(out / "val.jsonl") == official_rtp_val(rows, ppl, n_test=40)[:30]
