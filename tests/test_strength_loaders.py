"""Loaders of the strength analysis: real local files, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from steerbench.strength.loaders import load_heldout, load_mmlu, load_prompts
from steerbench.strength.mmlu import first_letter, mmlu_prompt

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def test_real_mmlu_and_wikitext(shared_data):
    qs = load_mmlu(shared_data / "mmlu", ["abstract_algebra", "anatomy"], "test", limit=3)
    assert [q.subject for q in qs] == ["abstract_algebra"] * 3 + ["anatomy"] * 3
    assert all(q.answer in "ABCD" and len(q.choices) == 4 for q in qs)
    dev = load_mmlu(shared_data / "mmlu", None, "dev")
    assert len(dev) == 57 * 5
    docs = load_heldout(shared_data / "wikitext2" / "test.txt")
    assert docs[0].strip() == "= Robert <unk> =" and all(d.strip() for d in docs)


def test_demo_sets():
    assert len(load_prompts(DEMO / "concepts" / "joy_positive.jsonl")) == 30
    assert len(load_prompts(DEMO / "concepts" / "joy_negative.jsonl")) == 30
    qs = load_mmlu(DEMO / "mmlu", None, "test")
    dev = load_mmlu(DEMO / "mmlu", None, "dev")
    assert len(qs) == 16 and len(dev) == 10
    prompt = mmlu_prompt(qs[0], dev[:2])
    assert prompt.endswith("\nD. Cold\nAnswer:") or prompt.endswith("Answer:")
    assert prompt.count("Answer:") == 3


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="dev/, val/, test/"):
        load_mmlu(tmp_path, None, "test")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "x_test.csv").write_text("q,a,b,c,d,E\n")
    with pytest.raises(ValueError, match="not one of A, B, C, D"):
        load_mmlu(tmp_path, None, "test")
    (tmp_path / "test" / "x_test.csv").write_text("q,a,b,c\n")
    with pytest.raises(ValueError, match="expected 6 columns"):
        load_mmlu(tmp_path, None, "test")
    with pytest.raises(ValueError, match=r"subjects \['nope'\] have no file"):
        load_mmlu(tmp_path, ["nope"], "test")
    with pytest.raises(ValueError, match="split 'train'"):
        load_mmlu(tmp_path, None, "train")
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:2: .*\"text\""):
        load_prompts(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_prompts(bad)
    with pytest.raises(FileNotFoundError, match="concept prompt file"):
        load_prompts(tmp_path / "missing.jsonl")
    with pytest.raises(FileNotFoundError, match="held-out text file"):
        load_heldout(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="no non-empty document"):
        load_heldout(tmp_path / "empty.txt")


def test_first_letter_as_paper():
    assert first_letter(" B. Paris") == "B"
    assert first_letter("The answer is (c)") == "C"
    assert first_letter("no idea") is None
