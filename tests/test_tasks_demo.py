"""The shipped synthetic demo datasets parse in their canonical formats and fit the demo config."""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import pytest
import yaml

from steerbench.io import read_jsonl
from steerbench.tasks import get_task
from steerbench.tasks.sources import read_rows
from steerbench.tasks.toxicity import toxicity_bin

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"

SOURCES = {
    "truthfulqa": {"path": str(DEMO / "truthfulqa" / "TruthfulQA.csv"), "mc_path": str(DEMO / "truthfulqa" / "mc_task.json")},
    "ultrafeedback": {"path": str(DEMO / "ultrafeedback" / "ultrafeedback.jsonl")},
    "toxicity": {
        "jigsaw": {"path": str(DEMO / "jigsaw" / "train.csv")},
        "rtp": {"path": str(DEMO / "realtoxicityprompts" / "prompts.jsonl")},
    },
}


def demo_params() -> dict[str, dict]:
    """The format params of the demo config, so the shipped data is checked against them."""
    config = REPO / "config" / "config.yaml"
    if not config.exists():
        return {"ultrafeedback": {"n_train": 32, "n_val": 0, "n_test": 12}, "toxicity": {"n_per_bin": 6, "n_test": 12}}
    tasks = yaml.safe_load(config.read_text())["tasks"]
    return {name: block.get("params", {}) for name, block in tasks.items()}


@pytest.mark.parametrize("name", list(SOURCES))
def test_demo_downloads_and_formats_with_the_demo_params(name, tmp_path):
    task = get_task(name)
    task.download(SOURCES[name], tmp_path / "raw")
    counts = task.format(tmp_path / "raw", tmp_path, seed=42, **demo_params().get(name, {}))
    assert set(counts) == set(task.splits)
    for split in task.fit_splits:
        pos, neg = task.fit_texts(read_jsonl(tmp_path / f"{split}.jsonl"), lambda t: f"Q: {t}\nA:")
        assert len(pos) >= 2 and len(neg) >= 2
    for _, eval_split in task.eval_plan:
        fmt = lambda t, system=None: f"{system or ''}Q: {t}\nA:"  # noqa: E731
        assert len(task.prompts(read_jsonl(tmp_path / f"{eval_split}.jsonl"), fmt)) >= 1


def test_demo_truthfulqa_is_matched_to_its_mc_file(tmp_path):
    task = get_task("truthfulqa")
    task.download(SOURCES["truthfulqa"], tmp_path / "raw")
    assert task.format(tmp_path / "raw", tmp_path, seed=42) == {"fold0": 12, "fold1": 12}
    records = read_jsonl(tmp_path / "fold0.jsonl") + read_jsonl(tmp_path / "fold1.jsonl")
    assert all(r["mc1"] and r["mc2"] for r in records)
    assert (DEMO / "truthfulqa" / "TruthfulQA.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # like the original


def test_demo_ultrafeedback_has_ties_in_the_hub_form():
    rows = read_rows(DEMO / "ultrafeedback" / "ultrafeedback.jsonl")
    assert isinstance(rows[0]["chosen"], list) and rows[0]["chosen"][-1]["role"] == "assistant"
    ties = sum(r["score_chosen"] <= r["score_rejected"] for r in rows)
    assert len(rows) == 51 and ties == 5


def test_demo_jigsaw_spans_every_bin_and_rtp_has_challenging_prompts():
    with open(DEMO / "jigsaw" / "train.csv", encoding="utf-8") as f:
        scores = [float(r["target"]) for r in csv.DictReader(f)]
    assert collections.Counter(toxicity_bin(s, 5) for s in scores) == {b: 12 for b in range(10)}
    rows = read_rows(DEMO / "realtoxicityprompts" / "prompts.jsonl")
    assert len(rows) == 24 and sum(r["challenging"] for r in rows) == 14
