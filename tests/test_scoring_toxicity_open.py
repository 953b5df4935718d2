"""The open toxicity scorer, trained on a Jigsaw-format file built from the real
RealToxicityPrompts records, and the agreement statistics between two scorers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from steerbench.scoring.toxicity_open import (
    HFToxicityClassifier,
    load_toxicity_classifier,
    load_open_toxicity_scorer,
    load_training_data,
    train_and_save,
    score_toxicity_open,
    train_toxicity_classifier,
)


@pytest.fixture(scope="module")
def rtp(shared_data):
    recs = []
    for name in ("challenging_toxic.jsonl", "nontoxic.jsonl"):
        with open(shared_data / "realtoxicityprompts" / name, encoding="utf-8") as f:
            recs += [json.loads(line) for line in f]
    # Interleave deterministically so both files land in train and held-out parts.
    rng = np.random.default_rng(0)
    return [recs[i] for i in rng.permutation(len(recs))]


@pytest.fixture(scope="module")
def trained(rtp, tmp_path_factory):
    train = rtp[: int(0.7 * len(rtp))]
    path = tmp_path_factory.mktemp("jigsaw") / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "comment_text", "toxicity"])
        for i, r in enumerate(train):
            for part in ("prompt", "continuation"):
                if r[part]["toxicity"] is not None:
                    w.writerow([f"{i}-{part}", r[part]["text"], r[part]["toxicity"]])
    texts, tox = load_training_data(path)
    return train_toxicity_classifier(texts, tox, n_features=2**16)


def test_open_scorer_separates_toxic_from_nontoxic_continuations(rtp, trained, tmp_path):
    held = [r for r in rtp[int(0.7 * len(rtp)) :] if r["continuation"]["toxicity"] is not None]
    rows = [{"id": str(i), "generation": r["continuation"]["text"]} for i, r in enumerate(held)]
    labels = np.array([r["continuation"]["toxicity"] >= 0.5 for r in held])
    assert 30 < labels.sum() < len(labels) - 30  # a real two-class held-out set
    out = score_toxicity_open(rows, trained)
    scores = np.array([o["toxicity"] for o in out])
    auc = roc_auc_score(labels, scores)
    assert auc > 0.75, auc  # measured 0.83 (chance: 0.5)
    assert all(o["error"] is None for o in out) and ((0 <= scores) & (scores <= 1)).all()
    # Save / load round trip (safetensors + JSON, no pickle) gives the same numbers.
    trained.save(tmp_path / "clf.safetensors")
    assert isinstance(load_open_toxicity_scorer(tmp_path / "clf.safetensors"), type(trained))
    meta = json.loads((tmp_path / "clf.json").read_text())
    assert meta["kind"] == "hashing-logreg-v1" and meta["n_train"] > 0
    again = load_toxicity_classifier(tmp_path / "clf.safetensors")
    assert np.array_equal(again.predict([r["generation"] for r in rows]), scores)
    # An empty continuation has no toxic content: 0, not the model's base rate for "".
    assert trained.predict([""])[0] > 0.05
    mixed = score_toxicity_open([{"id": "e", "generation": "  "}, rows[0]], trained)
    assert mixed[0] == {"id": "e", "toxicity": 0.0, "error": None}
    assert mixed[1]["toxicity"] == pytest.approx(scores[0])


def test_train_and_save_from_task_jsonl(tmp_path):
    import steerbench.io as sio

    recs = [{"id": str(i), "text": t, "toxicity": v, "label": int(v <= 0.5)} for i, (t, v) in enumerate(
        [("you are an idiot and a moron", 0.9), ("what an idiot", 0.8), ("have a lovely day", 0.0),
         ("thanks for the help", 0.1)])]
    sio.write_jsonl(tmp_path / "train.jsonl", recs)
    clf = train_and_save(tmp_path / "train.jsonl", tmp_path / "out" / "classifier.safetensors", n_features=2**10)
    assert (tmp_path / "out" / "classifier.json").exists()
    p = load_open_toxicity_scorer(tmp_path / "out" / "classifier.safetensors").predict(["idiot", "lovely day"])
    assert p[0] > p[1]
    assert clf.meta["n_train"] == 4


def test_training_is_deterministic(trained, rtp):
    texts = [r["prompt"]["text"] for r in rtp[:200]]
    tox = [r["prompt"]["toxicity"] for r in rtp[:200]]
    a = train_toxicity_classifier(texts, tox, n_features=2**12)
    b = train_toxicity_classifier(texts, tox, n_features=2**12)
    assert np.array_equal(a.coef, b.coef)


def test_bad_training_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="both toxic"):
        train_toxicity_classifier(["a", "b"], [0.1, 0.2], n_features=2**8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_toxicity_classifier(["a", "b"], [0.1, 1.5], n_features=2**8)
    bad = tmp_path / "x.csv"
    bad.write_text("text,score\nhello,0.2\n")
    with pytest.raises(ValueError, match="comment_text"):
        load_training_data(bad)
    with pytest.raises(FileNotFoundError, match="train_toxicity_classifier"):
        load_toxicity_classifier(tmp_path / "none.safetensors")


def test_hf_classifier_option_on_a_tiny_model(smollm2_dir, tmp_path):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, num_labels=2,
                      id2label={0: "non-toxic", 1: "toxic"}, label2id={"non-toxic": 0, "toxic": 1},
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(cfg).eval()
    clf = HFToxicityClassifier(model, tok, batch_size=2)
    assert clf.index == 1 and not clf.sigmoid
    texts = ["you are nice", "a much longer sentence that needs padding in the batch", "x"]
    p = clf.predict(texts)
    with torch.no_grad():
        direct = [torch.softmax(model(**tok([t], return_tensors="pt")).logits, -1)[0, 1].item() for t in texts]
    assert p == pytest.approx(direct, abs=1e-4)  # batching/padding does not change the score
    with pytest.raises(ValueError, match="toxic_label"):
        HFToxicityClassifier(model, tok, toxic_label="hateful")
    # Generic label names (LABEL_0/LABEL_1): the error names the config key; the key fixes it.
    model.config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    with pytest.raises(ValueError, match=r"set scorers.toxicity_open.toxic_label to one of them"):
        HFToxicityClassifier(model, tok)
    assert HFToxicityClassifier(model, tok, toxic_label="LABEL_1", batch_size=2).predict(texts) == pytest.approx(p, abs=1e-4)
    model.config.id2label = {0: "non-toxic", 1: "toxic"}
    # The same model from a local folder, as the workflow loads it.
    model.save_pretrained(tmp_path / "hf")
    tok.save_pretrained(tmp_path / "hf")
    loaded = load_open_toxicity_scorer(tmp_path / "hf")
    assert loaded.predict(texts) == pytest.approx(p, abs=1e-4)
    with pytest.raises(FileNotFoundError, match="train_toxicity_classifier"):
        load_open_toxicity_scorer(tmp_path)


def test_agreement_spearman_and_auc():
    # The agreement statistics the tables use (steerbench.stats), on paired items.
    from steerbench import stats

    ref = np.array([0.1, 0.2, 0.6, 0.9, 0.4])
    same_order = np.array([0.0, 0.1, 0.7, 0.8, 0.3])
    assert stats.spearman(ref, same_order) == pytest.approx(1.0)
    assert stats.auc(ref >= 0.5, same_order) == pytest.approx(1.0)
    assert stats.spearman(ref, 1 - same_order) == pytest.approx(-1.0)
    assert stats.auc(ref >= 0.5, 1 - same_order) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="pair by id"):
        stats.spearman(ref[:2], same_order)
