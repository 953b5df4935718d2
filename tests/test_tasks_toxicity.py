"""Toxicity task: Jigsaw binning on a Jigsaw-format CSV built from the real RTP records,
and the challenging-prompt test split."""

from __future__ import annotations

import collections
import csv
import json
import pathlib
import zipfile

import pandas as pd
import pytest

from steerbench.io import read_jsonl
from steerbench.tasks import get_task
from steerbench.tasks.toxicity import toxicity_bin

N_PER_BIN = 50  # the sparsest RTP-derived bin, (0.5, 0.6], holds 64 texts


def rtp_records(shared_data) -> list[dict]:
    rows = []
    for name in ("challenging_toxic", "nontoxic"):
        path = shared_data / "realtoxicityprompts" / f"{name}.jsonl"
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def write_jigsaw_csv(path, records, column="toxicity") -> int:
    """A Jigsaw-format CSV (id, comment_text, toxicity) from RTP prompt and continuation texts."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "comment_text", column])
        for i, r in enumerate(records):
            for part in ("prompt", "continuation"):
                if r[part].get("toxicity") is not None:
                    w.writerow([f"{i}{part[0]}", r[part]["text"], r[part]["toxicity"]])
                    n += 1
    return n


@pytest.fixture(scope="module")
def tox_raw(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tox")
    write_jigsaw_csv(tmp / "jigsaw.csv", rtp_records(shared_data))
    source = {
        "jigsaw": {"path": str(tmp / "jigsaw.csv")},
        "rtp": {"path": str(shared_data / "realtoxicityprompts" / "challenging_toxic.jsonl")},
    }
    get_task("toxicity").download(source, tmp / "raw")
    return tmp / "raw"


def test_download_layout(tox_raw):
    assert sorted(str(p.relative_to(tox_raw)) for p in tox_raw.rglob("*") if p.is_file()) == [
        "jigsaw/train.csv",
        "rtp/prompts.jsonl",
    ]


def test_jigsaw_binning(tox_raw, tmp_path, shared_data):
    task = get_task("toxicity")
    counts = task.format(tox_raw, tmp_path, seed=42, n_per_bin=N_PER_BIN, n_test=100)
    train = read_jsonl(tmp_path / "train.jsonl")
    assert counts["train"] == len(train) == 10 * N_PER_BIN
    bins = collections.Counter(toxicity_bin(r["toxicity"], 5) for r in train)
    assert bins == {b: N_PER_BIN for b in range(10)}
    assert all(r["label"] == int(r["toxicity"] <= 0.5) for r in train)
    assert sum(r["label"] for r in train) == 5 * N_PER_BIN
    assert len({r["id"] for r in train}) == len(train)
    # texts and scores are the source's, unchanged
    source = {}
    for i, r in enumerate(rtp_records(shared_data)):
        for part in ("prompt", "continuation"):
            source[f"jigsaw-{i}{part[0]}"] = (r[part]["text"], r[part]["toxicity"])
    assert all(source[r["id"]] == (r["text"], pytest.approx(r["toxicity"])) for r in train)
    # classes are interleaved, not sorted by bin
    assert len({r["label"] for r in train[:20]}) == 2


def test_bin_edges():
    assert [toxicity_bin(t, 5) for t in (0.0, 0.1, 0.1001, 0.3, 0.5, 0.5001, 0.6, 0.95, 1.0)] == [0, 0, 1, 2, 4, 5, 5, 9, 9]


def test_test_split_takes_challenging_prompts(tox_raw, tmp_path, shared_data):
    task = get_task("toxicity")
    task.format(tox_raw, tmp_path / "a", seed=42, n_per_bin=N_PER_BIN, n_test=500)
    test = read_jsonl(tmp_path / "a" / "test.jsonl")
    assert len(test) == len({r["id"] for r in test}) == 500
    rows = read_jsonl(tox_raw / "rtp" / "prompts.jsonl")
    for r in test[:50]:
        src = rows[int(r["id"].removeprefix("rtp-"))]
        assert src["challenging"] is True
        assert r["prompt"] == src["prompt"]["text"] and r["prompt_toxicity"] == src["prompt"]["toxicity"]
    task.format(tox_raw, tmp_path / "b", seed=42, n_per_bin=N_PER_BIN, n_test=500)
    task.format(tox_raw, tmp_path / "c", seed=3, n_per_bin=N_PER_BIN, n_test=500)
    for split in ("train", "test"):
        assert (tmp_path / "a" / f"{split}.jsonl").read_bytes() == (tmp_path / "b" / f"{split}.jsonl").read_bytes()
        assert (tmp_path / "a" / f"{split}.jsonl").read_bytes() != (tmp_path / "c" / f"{split}.jsonl").read_bytes()
    # The test prompts do not move with the size of the fit sample.
    task.format(tox_raw, tmp_path / "d", seed=42, n_per_bin=N_PER_BIN // 2, n_test=500)
    assert (tmp_path / "a" / "test.jsonl").read_bytes() == (tmp_path / "d" / "test.jsonl").read_bytes()
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "d" / "train.jsonl").read_bytes()


def test_non_challenging_prompts_are_never_picked(shared_data, tmp_path):
    rows = rtp_records(shared_data)
    nontoxic = [r for r in rows if not r["challenging"]]
    assert len(nontoxic) >= 500  # the nontoxic file: one challenging record among 600
    path = tmp_path / "rtp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[600:]))
    write_jigsaw_csv(tmp_path / "j.csv", rows)
    task = get_task("toxicity")
    task.download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": str(path)}}, tmp_path / "raw")
    n_challenging = sum(r["challenging"] for r in rows[600:])
    task.format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=5, n_test=n_challenging)
    picked = read_jsonl(tmp_path / "test.jsonl")
    assert {r["prompt"] for r in picked} == {r["prompt"]["text"] for r in rows[600:] if r["challenging"]}
    with pytest.raises(ValueError, match=rf"{n_challenging} challenging prompts, fewer than n_test={n_challenging + 1}"):
        task.format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=5, n_test=n_challenging + 1)


def test_competition_train_csv_in_a_zip(shared_data, tmp_path):
    """The competition's train.csv names the score `target`; a zip of it is accepted as is."""
    write_jigsaw_csv(tmp_path / "train.csv", rtp_records(shared_data), column="target")
    with zipfile.ZipFile(tmp_path / "jigsaw.zip", "w") as zf:
        zf.write(tmp_path / "train.csv", "train.csv")
    source = {
        "jigsaw": {"path": str(tmp_path / "jigsaw.zip")},
        "rtp": {"path": str(shared_data / "realtoxicityprompts" / "challenging_toxic.jsonl")},
    }
    task = get_task("toxicity")
    task.download(source, tmp_path / "raw")
    header = (tmp_path / "raw" / "jigsaw" / "train.csv").read_text().splitlines()[0]
    assert header == "id,comment_text,toxicity"
    assert task.format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=10, n_test=5) == {"train": 100, "test": 5}


def test_competition_zip_and_kaggle_fetch_take_all_data_csv(shared_data, tmp_path, monkeypatch):
    """The official code reads all_data.csv (every labelled comment); train.csv is a subset."""
    records = rtp_records(shared_data)
    write_jigsaw_csv(tmp_path / "train.csv", records[:300], column="target")
    n_all = write_jigsaw_csv(tmp_path / "all_data.csv", records)
    with zipfile.ZipFile(tmp_path / "jigsaw.zip", "w") as zf:
        zf.write(tmp_path / "train.csv", "train.csv")
        zf.write(tmp_path / "all_data.csv", "all_data.csv")
    rtp = {"path": str(shared_data / "realtoxicityprompts" / "challenging_toxic.jsonl")}
    task = get_task("toxicity")
    task.download({"jigsaw": {"path": str(tmp_path / "jigsaw.zip")}, "rtp": rtp}, tmp_path / "raw")
    assert len(pd.read_csv(tmp_path / "raw" / "jigsaw" / "train.csv")) == n_all

    # The Kaggle route asks for all_data.csv (a stand-in for the unreachable API that writes
    # the requested member where the real client does).
    kaggle = pytest.importorskip("kaggle.api.kaggle_api_extended")
    asked = []

    def download(self, competition, file_name, path=None, force=False, quiet=False):
        asked.append(file_name)
        (tmp_path / file_name).replace(pathlib.Path(path) / file_name)

    monkeypatch.setattr(kaggle.KaggleApi, "authenticate", lambda self: None)
    monkeypatch.setattr(kaggle.KaggleApi, "competition_download_file", download)
    task.download({"jigsaw": {"kaggle": "jigsaw-unintended-bias-in-toxicity-classification"}, "rtp": rtp},
                  tmp_path / "raw2")
    assert asked == ["all_data.csv"]
    assert len(pd.read_csv(tmp_path / "raw2" / "jigsaw" / "train.csv")) == n_all


def test_fit_texts_and_prompts_are_raw(tox_raw, tmp_path):
    task = get_task("toxicity")
    task.format(tox_raw, tmp_path, seed=0, n_per_bin=10, n_test=5)
    records = read_jsonl(tmp_path / "train.jsonl")
    shout = str.upper  # a template that would show if it were applied
    pos, neg = task.fit_texts(records, shout)
    assert pos == [r["text"] for r in records if r["label"] == 1]
    assert neg == [r["text"] for r in records if r["label"] == 0]
    items = task.prompts(read_jsonl(tmp_path / "test.jsonl"), shout)
    assert all(i["prompt_text"] == i["prompt"] for i in items)
    assert task.fit_splits == ["train"] and task.eval_plan == [("train", "test")]


def test_rtp_from_the_hub_keeps_the_original_schema(shared_data, tmp_path, monkeypatch):
    import datasets

    import steerbench.tasks.toxicity as tox_module

    records = rtp_records(shared_data)[:40]
    ds = datasets.Dataset.from_list(records)
    monkeypatch.setattr(tox_module, "load_hub_split", lambda repo, split, where, revision=None: ds)
    write_jigsaw_csv(tmp_path / "j.csv", rtp_records(shared_data))
    task = get_task("toxicity")
    task.download({"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"hub": "allenai/real-toxicity-prompts"}}, tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "rtp" / "prompts.jsonl")
    assert [r["prompt"]["text"] for r in rows] == [r["prompt"]["text"] for r in records]
    assert rows[0]["challenging"] is True


def test_jigsaw_from_rtp_helper(shared_data, tmp_path):
    from steerbench.tasks.toxicity import jigsaw_from_rtp

    files = [shared_data / "realtoxicityprompts" / f"{n}.jsonl" for n in ("challenging_toxic", "nontoxic")]
    n = jigsaw_from_rtp(files, tmp_path / "j.csv")
    assert n == write_jigsaw_csv(tmp_path / "ref.csv", rtp_records(shared_data))
    source = {"jigsaw": {"path": str(tmp_path / "j.csv")}, "rtp": {"path": str(files[0])}}
    get_task("toxicity").download(source, tmp_path / "raw")
    assert get_task("toxicity").format(tmp_path / "raw", tmp_path, seed=0, n_per_bin=N_PER_BIN, n_test=10)["train"] == 10 * N_PER_BIN


def test_official_jigsaw_selection_order_and_bins(tmp_path, shared_data):
    """preprocess_jigsaw.py + format_dataset.py, by hand: de-duplicate on text, bins from
    each class's min to max ([lo, hi), the last [lo, hi]), bins in order, each bin in file
    order (every bin here holds fewer than n_per_bin: all kept), non-toxic class first."""
    from steerbench.tasks.toxicity import official_jigsaw_sample

    non = [0.5, 0.02, 0.25, 0.12, 0.45, 0.33]  # bins from 0.02 to 0.5: width 0.096
    tox = [0.9, 0.6, 1.0, 0.7, 0.8, 0.62]  # bins from 0.6 to 1.0: width 0.08
    rows = [{"id": f"n{i}", "comment_text": f"calm {t}", "toxicity": t} for i, t in enumerate(non)]
    rows += [{"id": f"t{i}", "comment_text": f"rude {t}", "toxicity": t} for i, t in enumerate(tox)]
    rows.append({"id": "dup", "comment_text": "calm 0.5", "toxicity": 0.3})  # same text: dropped
    pd.DataFrame(rows).to_csv(tmp_path / "all.csv", index=False)
    from steerbench.tasks.toxicity import read_jigsaw_source

    out = official_jigsaw_sample(read_jigsaw_source(tmp_path / "all.csv", "test"), n_per_bin=1000)
    assert [r["toxicity"] for r in out] == [0.02, 0.12, 0.25, 0.33, 0.5, 0.45, 0.6, 0.62, 0.7, 0.8, 0.9, 1.0]
    assert [r["label"] for r in out] == [1] * 6 + [0] * 6 and out[4]["id"] == "jigsaw-n0"
    # Through format: the same rows, same order.
    raw = tmp_path / "raw"
    task = get_task("toxicity")
    task.download({"jigsaw": {"path": str(tmp_path / "all.csv")},
                   "rtp": {"path": str(shared_data / "realtoxicityprompts" / "challenging_toxic.jsonl")}}, raw)
    task.format(raw, tmp_path / "fmt", seed=0, n_per_bin=1000, n_test=5, selection="official")
    assert [r["text"] for r in read_jsonl(tmp_path / "fmt" / "train.jsonl")] == [r["text"] for r in out]
    with pytest.raises(ValueError, match="selection='random'"):
        task.format(raw, tmp_path / "x", seed=0, selection="random")


def test_official_rtp_test_prompts(shared_data, tmp_path):
    """preprocess_rtp.py + format_dataset.py: scored prompts with perplexity < 200 only;
    the test set is n_test toxic (> 0.5) prompts, the tail of a seeded shuffle, no repeats."""
    from steerbench.tasks.toxicity import official_rtp_test

    rows = rtp_records(shared_data)
    ppl = [None if i % 7 == 0 else (250.0 if i % 5 == 0 else 10.0 + i % 50) for i in range(len(rows))]
    test = official_rtp_test(rows, ppl, n_test=40, n_per_bin=30)
    idx = [int(r["id"].split("-")[1]) for r in test]
    assert len(test) == 40 and len(set(idx)) == 40
    assert all(ppl[i] is not None and ppl[i] < 200 for i in idx)
    assert all(r["prompt_toxicity"] > 0.5 and r["prompt"] == rows[i]["prompt"]["text"] for r, i in zip(test, idx))
    # Deterministic (the official fixed seed), and independent of the workflow's seed.
    assert official_rtp_test(rows, ppl, n_test=40, n_per_bin=30) == test
    # Through format with a perplexity file (what stages.prompt_ppl writes).
    raw = tmp_path / "raw"
    (raw / "rtp").mkdir(parents=True)
    (raw / "jigsaw").mkdir()
    with open(raw / "rtp" / "prompts.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    pd.DataFrame([{"id": i, "comment_text": f"c{i}", "toxicity": t} for i, t in enumerate([0.1, 0.9] * 5)]).to_csv(
        raw / "jigsaw" / "train.csv", index=False)
    with open(tmp_path / "ppl.jsonl", "w") as f:
        f.writelines(json.dumps({"index": i, "ppl": p}) + "\n" for i, p in enumerate(ppl))
    task = get_task("toxicity")
    task.format(raw, tmp_path / "out", seed=1, n_per_bin=1, n_test=40, selection="official", ppl_path=str(tmp_path / "ppl.jsonl"))
    got = read_jsonl(tmp_path / "out" / "test.jsonl")
    assert [r["prompt"] for r in got] == [r["prompt"] for r in official_rtp_test(rows, ppl, n_test=40)]
