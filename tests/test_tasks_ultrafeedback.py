"""UltraFeedback task on the real train_prefs sample: tie filter, split sizes, both row forms."""

from __future__ import annotations

import json

import pytest

from steerbench.io import read_jsonl
from steerbench.tasks import get_task
from steerbench.tasks.ultrafeedback import kept_pairs


@pytest.fixture(scope="module")
def sample(shared_data):
    return shared_data / "ultrafeedback" / "train_prefs_sample.jsonl"


@pytest.fixture(scope="module")
def uf_raw(sample, tmp_path_factory):
    raw = tmp_path_factory.mktemp("uf") / "raw"
    get_task("ultrafeedback").download({"path": str(sample)}, raw)
    return raw


def test_download_flattens_the_sample(uf_raw, sample):
    assert sorted(p.name for p in uf_raw.iterdir()) == ["train_prefs.jsonl"]
    rows = read_jsonl(uf_raw / "train_prefs.jsonl")
    src = [json.loads(line) for line in sample.read_text().splitlines()]
    assert len(rows) == len(src) == 1000
    assert rows[3]["chosen"] == src[3]["chosen"]
    assert rows[3]["score_chosen"] == src[3]["metadata"]["score_chosen"]


def test_filter_drops_the_111_ties_and_2_empty_responses(uf_raw):
    kept = kept_pairs(uf_raw / "train_prefs.jsonl", "train_prefs")
    rows = read_jsonl(uf_raw / "train_prefs.jsonl")
    untied = [r for r in rows if r["score_chosen"] > r["score_rejected"]]
    assert len(untied) == 1000 - 111
    assert sum(1 for r in untied if not (r["chosen"] and r["rejected"])) == 2
    assert len(kept) == 1000 - 111 - 2
    assert all(r["score_chosen"] > r["score_rejected"] and r["chosen"] and r["rejected"] for r in kept)


def test_splits_are_sized_disjoint_and_deterministic(uf_raw, tmp_path):
    task = get_task("ultrafeedback")
    counts = task.format(uf_raw, tmp_path / "a", seed=42, n_train=600, n_val=50, n_test=200)
    assert counts == {"train": 600, "val": 50, "test": 200}
    splits = {s: read_jsonl(tmp_path / "a" / f"{s}.jsonl") for s in ("train", "val", "test")}
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids)) == 850
    assert all(r["score_chosen"] > r["score_rejected"] for rows in splits.values() for r in rows)
    assert set(splits["train"][0]) == {"id", "prompt", "chosen", "rejected", "score_chosen", "score_rejected"}
    task.format(uf_raw, tmp_path / "b", seed=42, n_train=600, n_val=50, n_test=200)
    task.format(uf_raw, tmp_path / "c", seed=1, n_train=600, n_val=50, n_test=200)
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "b" / "test.jsonl").read_bytes()
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "c" / "test.jsonl").read_bytes()


def test_hub_form_with_test_prefs_rows(sample, tmp_path):
    """Rows in the hub's form (chats, top-level scores), routed to test_prefs by `split`."""
    src = [json.loads(line) for line in sample.read_text().splitlines()][:200]
    hub_rows = []
    for i, r in enumerate(src):
        hub_rows.append(
            {
                "prompt": r["prompt"],
                "prompt_id": f"p{i}",
                "chosen": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["rejected"]}],
                "score_chosen": r["metadata"]["score_chosen"],
                "score_rejected": r["metadata"]["score_rejected"],
                "split": "test_prefs" if i >= 150 else "train_prefs",
            }
        )
    path = tmp_path / "hub.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in hub_rows))
    task = get_task("ultrafeedback")
    task.download({"path": str(path)}, tmp_path / "raw")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["test_prefs.jsonl", "train_prefs.jsonl"]
    task.format(tmp_path / "raw", tmp_path, seed=0, n_train=100, n_val=10, n_test=20)
    test = read_jsonl(tmp_path / "test.jsonl")
    assert all(r["id"].startswith("uf-test_prefs-") for r in test)
    by_prompt = {r["prompt"]: r for r in src}
    assert all(r["chosen"] == by_prompt[r["prompt"]]["chosen"] for r in test)
    assert all(r["id"].startswith("uf-train_prefs-") for r in read_jsonl(tmp_path / "train.jsonl"))


def test_fit_texts_and_prompts(uf_raw, tmp_path):
    task = get_task("ultrafeedback")
    task.format(uf_raw, tmp_path, seed=0, n_train=5, n_val=0, n_test=3)
    records = read_jsonl(tmp_path / "train.jsonl")
    fmt = lambda text: f"<user>{text}</user>"  # noqa: E731
    # A formatter without a chat exchange (the qa form): the official "{prompt}\n{response}".
    pos, neg = task.fit_texts(records, fmt)
    assert pos == [f"{r['prompt']}\n{r['chosen']}" for r in records]
    assert neg == [f"{r['prompt']}\n{r['rejected']}" for r in records]
    # Generation continues the raw prompt, whatever the formatter (official batch_generate).
    items = task.prompts(read_jsonl(tmp_path / "test.jsonl"), fmt)
    assert len(items) == 3 and items[0]["prompt_text"] == items[0]["prompt"]
    assert read_jsonl(tmp_path / "val.jsonl") == []
    assert task.eval_plan == [("train", "test")] and task.generation["max_new_tokens"] == 128
    # As the paper's code, every task's responses are cut where a base model starts a new "Q:".
    assert all(get_task(t).generation["stop"] == ["\nQ:"] for t in ("truthfulqa", "ultrafeedback", "toxicity"))


def test_too_few_pairs_names_the_parameter(uf_raw, tmp_path):
    with pytest.raises(ValueError, match=r"887 pairs .*n_train \+ n_val \+ n_test = 11000.*lower tasks.ultrafeedback.params"):
        get_task("ultrafeedback").format(uf_raw, tmp_path, seed=0)
    assert not (tmp_path / "train.jsonl").exists()


def test_hub_splits_are_fetched_and_flattened(sample, tmp_path, monkeypatch):
    """The hub's train_prefs / test_prefs (as `datasets` objects built from the real sample)."""
    import datasets

    import steerbench.tasks.ultrafeedback as uf_module

    src = [json.loads(line) for line in sample.read_text().splitlines()][:120]

    def hub_form(rows):
        return datasets.Dataset.from_list(
            [
                {
                    "prompt": r["prompt"], "prompt_id": f"id{i}",
                    "chosen": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["chosen"]}],
                    "rejected": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["rejected"]}],
                    "messages": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["chosen"]}],
                    "score_chosen": r["metadata"]["score_chosen"], "score_rejected": r["metadata"]["score_rejected"],
                }
                for i, r in enumerate(rows)
            ]
        )

    splits = {"train_prefs": hub_form(src[:100]), "test_prefs": hub_form(src[100:])}
    monkeypatch.setattr(uf_module, "load_hub_split", lambda repo, split, where, revision=None: splits[split])
    task = get_task("ultrafeedback")
    task.download({"hub": "HuggingFaceH4/ultrafeedback_binarized"}, tmp_path / "raw")
    train = read_jsonl(tmp_path / "raw" / "train_prefs.jsonl")
    assert len(train) == 100 and train[0]["chosen"] == src[0]["chosen"] and train[0]["source_id"] == "id0"
    assert len(read_jsonl(tmp_path / "raw" / "test_prefs.jsonl")) == 20
    n_test = sum(r["metadata"]["score_chosen"] > r["metadata"]["score_rejected"] for r in src[100:])
    assert task.format(tmp_path / "raw", tmp_path, seed=0, n_train=50, n_val=5, n_test=n_test)["test"] == n_test


def _official_selection(train: list[dict], test: list[dict], seed: int, n_train: int, n_val: int, n_test: int):
    """data/ultrafeedback/format_dataset.py's steps, written out: score filter, empty responses
    skipped, train de-duplicated on the prompt, one generator for train+val then test."""
    import numpy as np
    import pandas as pd

    def kept(rows):
        df = pd.DataFrame(rows)
        df = df[df["score_chosen"] > df["score_rejected"]]
        return df[(df["chosen"] != "") & (df["rejected"] != "")]

    rng = np.random.default_rng(seed)
    tr = kept(train).drop_duplicates(subset=["prompt"]).reset_index(drop=True)
    sel = rng.choice(np.arange(len(tr)), size=n_train + n_val, replace=False)
    te = kept(test).reset_index(drop=True)
    tsel = rng.choice(np.arange(len(te)), size=n_test, replace=False)
    return ([tr.iloc[i]["prompt"] for i in sel[:n_train]], [tr.iloc[i]["prompt"] for i in sel[n_train:]],
            [te.iloc[i]["prompt"] for i in tsel])


def test_selection_is_the_official_one(tmp_path):
    def pair(i, prompt=None, chosen="yes", score=(5.0, 2.0)):
        return {"prompt": prompt or f"question {i}", "chosen": chosen, "rejected": "no",
                "score_chosen": score[0], "score_rejected": score[1]}

    train = [pair(i) for i in range(40)]
    train[7] = pair(7, prompt="question 3")          # a repeated prompt: only the first is kept
    train[11] = pair(11, chosen="")                  # an empty response: skipped
    train[12] = pair(12, score=(3.0, 3.0))           # a tie: dropped
    test = [pair(100 + i) for i in range(15)]
    test[4] = pair(104, prompt="question 100")       # test_prefs is not de-duplicated
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, rows in (("train_prefs", train), ("test_prefs", test)):
        (raw / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    get_task("ultrafeedback").format(raw, tmp_path / "out", seed=42, n_train=20, n_val=5, n_test=6)
    got = [[r["prompt"] for r in read_jsonl(tmp_path / "out" / f"{s}.jsonl")] for s in ("train", "val", "test")]
    assert got == list(_official_selection(train, test, 42, 20, 5, 6))
    assert "question 7" not in got[0] + got[1] and "question 11" not in got[0] + got[1]
