"""Extra fit data for the learned steerers, end to end on SmolLM2 and real TruthfulQA rows:
question groups and query states (HPR, TruthFlow), generated trajectories with rewards
(RE-Control), and fitting each method on them."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from steerbench.stages.fit_data import collect_trajectories, extract_fit_extras, load_fit_extras

LAYER = 3


@pytest.fixture(scope="module")
def tqa_split(shared_data, tmp_path_factory):
    """The first 3 questions of fold0 of the real TruthfulQA set."""
    from steerbench.io import read_jsonl, write_jsonl
    from steerbench.tasks import get_task

    tmp = tmp_path_factory.mktemp("tqa")
    task = get_task("truthfulqa")
    task.download({"path": str(shared_data / "truthfulqa" / "TruthfulQA.csv")}, tmp / "raw")
    task.format(tmp / "raw", tmp / "splits", seed=42)
    split = tmp / "small.jsonl"
    write_jsonl(split, read_jsonl(tmp / "splits" / "fold0.jsonl")[:3])
    return split


@pytest.fixture(scope="module")
def lm(smollm2_dir):
    from steerbench.lm import load_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread runs a 135M model fastest
    yield load_model(str(smollm2_dir), dtype="float32", device="cpu")
    torch.set_num_threads(before)


def test_truthfulqa_fit_extras_follow_fit_texts(tqa_split, lm):
    from steerbench.io import read_jsonl
    from steerbench.lm import PromptFormatter
    from steerbench.tasks import get_task

    records = read_jsonl(tqa_split)
    task, fmt = get_task("truthfulqa"), PromptFormatter(lm)
    pos, neg = task.fit_texts(records, fmt)
    ex = task.fit_extras(records, fmt)
    assert len(ex["pos_group"]) == len(pos) and len(ex["neg_group"]) == len(neg)
    for texts, groups, key in ((pos, ex["pos_group"], "correct_answers"), (neg, ex["neg_group"], "incorrect_answers")):
        for text, g in zip(texts, groups):
            assert any(a in text for a in records[g][key]) and records[g]["question"] in text
    assert ex["query_texts"] == [p["prompt_text"] for p in task.prompts(records, fmt)]


def test_extract_fit_extras_and_fit_hpr_and_truthflow(tqa_split, lm, smollm2_dir, tmp_path):
    from steerbench.io import read_jsonl
    from steerbench.lm import PromptFormatter, extract_activations
    from steerbench.stages.extract import extract_split
    from steerbench.stages.fit import load_activations
    from steerbench.steerers import get_steerer
    from steerbench.tasks import get_task

    out = tmp_path / "fold0.extra.safetensors"
    counts = extract_fit_extras(smollm2_dir, "truthfulqa", tqa_split, LAYER, out, device="cpu", dtype="float32",
                                batch_size=4)
    ex = load_file(str(out))
    records = read_jsonl(tqa_split)
    assert counts == {"n_pos": sum(len(r["correct_answers"]) for r in records),
                      "n_neg": sum(len(r["incorrect_answers"]) for r in records), "n_queries": 3}
    assert ex["pos_group"].tolist() == [g for g, r in enumerate(records) for _ in r["correct_answers"]]
    assert ex["neg_group"].dtype == torch.int64 and ex["queries"].shape == (3, lm.hidden_size)
    # Row g of queries is the last-token state of question g's generation prompt.
    prompts = [p["prompt_text"] for p in get_task("truthfulqa").prompts(records, PromptFormatter(lm))]
    want = extract_activations(lm, prompts, [LAYER], batch_size=1)[LAYER]
    torch.testing.assert_close(ex["queries"], want, rtol=1e-4, atol=1e-4)

    acts = tmp_path / "fold0.safetensors"
    extract_split(smollm2_dir, "truthfulqa", tqa_split, LAYER, acts, device="cpu", dtype="float32", batch_size=4)
    pos, neg = load_activations(acts)
    extra = load_fit_extras([out])
    hpr = get_steerer("HPR", epochs=2, device="cpu", val_fraction=0.0).fit(pos, neg, extra, seed=0)
    steered = hpr.steer(neg, 1.0)
    torch.testing.assert_close(steered.norm(dim=-1), neg.norm(dim=-1), rtol=1e-4, atol=1e-3)
    tf = get_steerer("TruthFlow", epochs=2, batch_size=4, depth=2, k=2, device="cpu").fit(pos, neg, extra, seed=0)
    assert tf.state["basis"].shape == (2, lm.hidden_size)
    assert not torch.equal(tf.steer(ex["queries"], 1.0), ex["queries"])


def test_collect_trajectories_align_states_with_response_tokens(tqa_split, lm, smollm2_dir, tmp_path):
    from steerbench.lm import PromptFormatter, extract_activations, generate
    from steerbench.io import read_jsonl
    from steerbench.steerers import get_steerer
    from steerbench.tasks import get_task

    out = tmp_path / "fold0.traj.safetensors"
    settings = {"max_new_tokens": 6}
    counts = collect_trajectories(smollm2_dir, "truthfulqa", tqa_split, LAYER, out, reward="similarity",
                                  settings=settings, seed=0, device="cpu", dtype="float32", batch_size=4, limit=2)
    traj = load_file(str(out))
    n = len(traj["traj_states"])
    assert counts == {"responses": 2, "states": n}
    assert traj["traj_states"].shape == (n, lm.hidden_size)
    ep, step, rew = traj["traj_episode"], traj["traj_step"], traj["traj_rewards"]
    assert sorted(set(ep.tolist())) == [0, 1]
    for e in (0, 1):
        rows = ep == e
        assert step[rows].tolist() == list(range(int(rows.sum())))
        assert len(set(rew[rows].tolist())) == 1 and -2.0 <= float(rew[rows][0]) <= 2.0
    # Step 0 is the state that sampled the first response token: the prompt's last token.
    prompts = [p["prompt_text"] for p in get_task("truthfulqa").prompts(read_jsonl(tqa_split)[:2], PromptFormatter(lm))]
    last = extract_activations(lm, prompts, [LAYER], batch_size=1)[LAYER]
    torch.testing.assert_close(traj["traj_states"][step == 0], last, rtol=1e-4, atol=1e-4)
    # The responses are the seeded unsteered generations of those prompts.
    texts = generate(lm, prompts, batch_size=4, seed=0, **{**get_task("truthfulqa").generation, **settings})
    n_tokens = [len(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert [int((ep == e).sum()) for e in (0, 1)] == n_tokens

    rc = get_steerer("RE-Control", epochs=3, batch_size=2, device="cpu", n_steps=2, step=0.01).fit(
        torch.randn(2, lm.hidden_size), torch.randn(2, lm.hidden_size), load_fit_extras(out), seed=0)
    assert rc.steer(last, 1.0).shape == last.shape


def test_load_fit_extras_merges_files_and_rejects_clashes(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_file({"pos_group": torch.arange(3)}, str(a))
    save_file({"queries": torch.zeros(2, 4)}, str(b))
    assert set(load_fit_extras([a, b])) == {"pos_group", "queries"}
    with pytest.raises(ValueError, match="pos_group"):
        load_fit_extras([a, a])
    with pytest.raises(FileNotFoundError, match="extract_fit_extras"):
        load_fit_extras([tmp_path / "missing.safetensors"])


def test_a_task_without_fit_extras_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fit_extras"):
        extract_fit_extras("unused", "toxicity", tmp_path / "x.jsonl", LAYER, tmp_path / "o.safetensors")
