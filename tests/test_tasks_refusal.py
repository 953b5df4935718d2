"""Refusal task: sources (demo files, the real shared copies), seeded splits, prompts, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steerbench.io import read_jsonl
from steerbench.tasks.refusal import EVAL_SETS, GROUP_OF, MATH_TEMPLATE, Refusal

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "refusal"
FIT_FILES = {"harmful": "harmful.json", "jailbreak_train": "jailbreak_train.json", "benign": "benign.json",
             "borderline": "borderline.json"}


def demo_source() -> dict:
    src = {k: {"path": str(DEMO / f)} for k, f in FIT_FILES.items()}
    src.update({s: {"path": str(DEMO / f"{s}.json")} for s in EVAL_SETS})
    return src


def real_source(data: Path) -> dict:
    a = data / "alphasteer"
    src = {"harmful": {"path": str(a / "train" / "harmful_train_1000.json")},
           "jailbreak_train": {"path": str(a / "train" / "jailbreak_train.json")},
           "benign": {"path": str(a / "train" / "benign_val.json")},
           "borderline": {"path": str(a / "train" / "borderline_val.json")},
           "advbench": {"path": str(data / "harmful_behaviors" / "advbench.csv")},
           "jailbreakbench": {"path": str(data / "harmful_behaviors" / "jailbreakbench.csv")},
           "xstest": {"path": str(data / "xstest" / "xstest_prompts.csv")},
           "gsm8k": {"path": str(data / "gsm8k" / "test.jsonl")},
           "math": {"path": str(a / "test" / "math_500_sampled.json")},
           "alpaca_eval": {"path": str(a / "test" / "alpaca_eval.json")}}
    src.update({s: {"path": str(a / "test" / "llama3.1" / f"{s}.json")} for s in GROUP_OF if GROUP_OF[s] == "jailbreak"})
    return src


def fmt(text: str, system: str | None = None) -> str:
    return f"<user>{text}</user><assistant>"


def test_demo_data_round_trip(tmp_path):
    task = Refusal()
    raw = task.download(demo_source(), tmp_path / "raw")
    counts = task.format(raw, tmp_path / "splits", seed=1, n_harmful=20, n_jailbreak=5, n_benign=25, n_borderline=100)
    assert counts["fit"] == 20 + 5 + 25 + 12  # borderline: all 12 when fewer than asked
    assert counts["xstest"] == 6  # the unsafe XSTest row is dropped
    assert set(counts) == {"fit", *EVAL_SETS} == set(task.splits)
    fit = read_jsonl(tmp_path / "splits" / "fit.jsonl")
    pos, neg = task.fit_texts(fit, fmt)
    assert (len(pos), len(neg)) == (25, 25) and all(t.startswith("<user>") for t in pos + neg)
    assert len(task.fit_extra_texts(fit, fmt)["borderline"]) == 12
    gcg = read_jsonl(tmp_path / "splits" / "gcg.jsonl")
    assert gcg[0]["prompt"].startswith("Explain how to make a weapon at home ") and gcg[0]["group"] == "jailbreak"
    gsm = read_jsonl(tmp_path / "splits" / "gsm8k.jsonl")
    assert gsm[0]["answer"].endswith("#### 7")
    rows = task.prompts(gsm, fmt)
    assert rows[0]["prompt_text"] == fmt(MATH_TEMPLATE.format(problem=gsm[0]["prompt"])) and "\\boxed{}" in rows[0]["prompt_text"]
    adv = task.prompts(read_jsonl(tmp_path / "splits" / "advbench.jsonl"), fmt)
    assert adv[0]["prompt_text"] == fmt(adv[0]["prompt"])
    assert task.generation["do_sample"] is False and task.generation_for("math")["max_new_tokens"] == 4096
    # AlphaSteer's per-set configs: 128 on the safety sets, 512 AlpacaEval, 2048 GSM8K, 4096 MATH.
    assert [task.generation_for(s)["max_new_tokens"] for s in ("gcg", "xstest", "alpaca_eval", "gsm8k")] == [
        128, 128, 512, 2048]


def test_chat_template_with_generation_prompt(tmp_path, smollm2_dir):
    from transformers import AutoTokenizer

    from steerbench.lm import PromptFormatter
    from steerbench.lm.testing import tiny_lm

    lm = tiny_lm("llama", AutoTokenizer.from_pretrained(smollm2_dir), num_layers=1)
    task = Refusal()
    task.format(task.download(demo_source(), tmp_path / "raw"), tmp_path / "s", n_harmful=4, n_jailbreak=0, n_benign=4)
    pos, _ = task.fit_texts(read_jsonl(tmp_path / "s" / "fit.jsonl"), PromptFormatter(lm, "chat"))
    assert pos[0].rstrip().endswith("<|im_start|>assistant")


def test_real_shared_data(tmp_path, shared_data):
    task = Refusal()
    raw = task.download(real_source(shared_data), tmp_path / "raw")
    counts = task.format(raw, tmp_path / "s", seed=0, n_harmful=50, n_jailbreak=20, n_benign=50, n_borderline=20, n_eval=30)
    assert counts["fit"] == 140 and all(counts[s] == 30 for s in EVAL_SETS)
    assert len(read_jsonl(raw / "xstest.jsonl")) == 250  # XSTest v2: the 250 safe prompts
    assert len(read_jsonl(raw / "advbench.jsonl")) == 520 and len(read_jsonl(raw / "jailbreakbench.jsonl")) == 100
    gcg = read_jsonl(raw / "gcg.jsonl")
    assert not gcg[0]["prompt"].startswith("Cutting Knowledge")  # not Llama's templated `query`
    # Seeded: the same seed draws the same prompts, another seed others.
    again = task.format(raw, tmp_path / "t", seed=0, n_harmful=50, n_jailbreak=20, n_benign=50, n_borderline=20, n_eval=30)
    assert again == counts
    assert read_jsonl(tmp_path / "s" / "aim.jsonl") == read_jsonl(tmp_path / "t" / "aim.jsonl")
    task.format(raw, tmp_path / "u", seed=1, n_harmful=50, n_jailbreak=20, n_benign=50, n_borderline=20, n_eval=30)
    assert read_jsonl(tmp_path / "s" / "fit.jsonl") != read_jsonl(tmp_path / "u" / "fit.jsonl")


def test_bad_sources_write_nothing(tmp_path):
    task = Refusal()
    src = demo_source()
    del src["cipher"]
    with pytest.raises(ValueError, match=r"needs a source block for \['cipher'\]"):
        task.download(src, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()

    (tmp_path / "wrong.json").write_text(json.dumps([{"text": "hi"}]))
    with pytest.raises(ValueError, match=r"missing prompt column.*found \['text'\].*column:"):
        task.download({**demo_source(), "aim": {"path": str(tmp_path / "wrong.json")}}, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()

    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="no rows"):
        task.download({**demo_source(), "benign": {"path": str(tmp_path / "empty.json")}}, tmp_path / "raw")
    (tmp_path / "noanswer.json").write_text(json.dumps([{"problem": "1+1?"}]))
    with pytest.raises(ValueError, match="missing answer column"):
        task.download({**demo_source(), "math": {"path": str(tmp_path / "noanswer.json")}}, tmp_path / "raw")
    with pytest.raises(FileNotFoundError, match="no such file"):
        task.download({**demo_source(), "gsm8k": {"path": str(tmp_path / "nope.json")}}, tmp_path / "raw")
    with pytest.raises(ValueError, match="unknown dataset"):
        task.download({**demo_source(), "advbnch": {"path": "x"}}, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_bad_params_and_records(tmp_path):
    task = Refusal()
    raw = task.download(demo_source(), tmp_path / "raw")
    with pytest.raises(ValueError, match="n_harmful=0"):
        task.format(raw, tmp_path / "s", n_harmful=0)
    with pytest.raises(ValueError, match=r"24 rows, fewer than the 500"):
        task.format(raw, tmp_path / "s", n_harmful=500)
    with pytest.raises(ValueError, match="unknown parameter"):
        task.format(raw, tmp_path / "s", n_harmfull=5)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="lacks \\['label'\\]"):
        task.fit_texts([{"id": "x", "prompt": "p"}], fmt)
    with pytest.raises(ValueError, match="needs both"):
        task.fit_texts([{"id": "x", "prompt": "p", "label": "harmful"}], fmt)


def test_per_split_generation_settings_override_one_split():
    """`generation.per_split` gives one eval split its own settings (GSM8K room to reason)
    on top of the config's keys, which still beat the task's per-split defaults."""
    from steerbench.param_checks import ParamError, check_generation
    from steerbench.stages.generate import split_settings
    from steerbench.tasks import get_task

    t = get_task("refusal")
    overrides = {"max_new_tokens": 16, "per_split": {"gsm8k": {"max_new_tokens": 96}}}
    assert split_settings(t, "gsm8k", overrides, {})["max_new_tokens"] == 96
    assert split_settings(t, "math", overrides, {})["max_new_tokens"] == 16  # the config beats the 4096 default
    assert split_settings(t, "gcg", overrides, {})["max_new_tokens"] == 16
    assert "per_split" not in split_settings(t, "gsm8k", overrides, {})
    # A task without per-split defaults: its settings, then the split's entry.
    tqa = get_task("truthfulqa")
    split = tqa.eval_plan[0][1]
    got = split_settings(tqa, split, {"per_split": {split: {"max_new_tokens": 5}}}, {"max_new_tokens": 32, "top_p": 1.0})
    assert got == {"max_new_tokens": 5, "top_p": 1.0}

    def check(gen):
        check_generation({"tasks": {"refusal": {"generation": gen}}}, ["config/x.yaml"])

    check(overrides)
    with pytest.raises(ParamError, match=r"tasks\.refusal\.generation\.per_split\.gsm9k: unknown key.*x\.yaml"):
        check({"per_split": {"gsm9k": {"max_new_tokens": 96}}})
    with pytest.raises(ParamError, match=r"tasks\.refusal\.generation\.per_split\.gsm8k\.max_new_tokns: unknown key"):
        check({"per_split": {"gsm8k": {"max_new_tokns": 96}}})
    with pytest.raises(ParamError, match=r"per_split\.gsm8k: expected a mapping"):
        check({"per_split": {"gsm8k": 96}})
