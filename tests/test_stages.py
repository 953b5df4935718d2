"""Stage functions: bad inputs fail with a message naming the file and the fix."""

import pytest
import torch
from safetensors.torch import save_file

from steerbench.stages.common import read_split
from steerbench.stages.fit import fit_steerer, load_activations
from steerbench.steerers import load_steerer


def test_corrupted_activations_name_the_file(tmp_path):
    bad = tmp_path / "fold0.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"fold0.safetensors.*rerun extract_activations"):
        load_activations(bad)
    with pytest.raises(FileNotFoundError, match="run extract_activations first"):
        load_activations(tmp_path / "missing.safetensors")


def test_activations_without_both_classes_are_rejected(tmp_path):
    path = tmp_path / "a.safetensors"
    save_file({"pos": torch.zeros(3, 4)}, str(path))
    with pytest.raises(ValueError, match="'pos' and 'neg'"):
        load_activations(path)


def test_fit_steerer_writes_a_loadable_steerer_and_passes_the_seed_to_fit(tmp_path):
    acts = tmp_path / "a.safetensors"
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(20, 8, generator=g) + 1, torch.randn(24, 8, generator=g)
    save_file({"pos": pos, "neg": neg}, str(acts))
    out = tmp_path / "caa" / "fold0.safetensors"
    fit_steerer(acts, "CAA", {}, 7, out)  # CAA takes no seed: passing one must not break it
    h = torch.randn(5, 8, generator=g)
    shift = load_steerer(str(out)).steer(h, 1.0) - h
    assert torch.allclose(shift, (pos.mean(0) - neg.mean(0)).expand(5, 8), atol=1e-5)
    out2 = tmp_path / "ode" / "fold0.safetensors"
    fit_steerer(acts, "ODESteer", {"n_components": 64}, 7, out2)
    assert load_steerer(str(out2)).fit_seed == 7 and "seed" not in load_steerer(str(out2)).hyperparams


def test_empty_split_is_an_error(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text("")
    with pytest.raises(ValueError, match="split is empty"):
        read_split(path)


def test_extract_split_uses_the_configured_prompt_format(smollm2_dir, shared_data, tmp_path):
    """prompt_format reaches the fit texts: "qa" gives the activations of "Q: ...\\nA: answer",
    "auto" (SmolLM2 has a chat template) those of the whole chat exchange, its assistant turn
    closed ("<|im_end|>\\n"), as the paper's code takes them in the chat form."""
    from safetensors.torch import load_file

    from steerbench.io import read_jsonl
    from steerbench.lm import extract_activations, load_model
    from steerbench.stages.extract import extract_split
    from steerbench.tasks import get_task

    task = get_task("truthfulqa")
    task.download({"path": str(shared_data / "truthfulqa" / "TruthfulQA.csv")}, tmp_path / "raw")
    task.format(tmp_path / "raw", tmp_path / "splits", seed=42)
    split = tmp_path / "splits" / "fold0.jsonl"
    r = read_jsonl(split)[0]
    lm = load_model(smollm2_dir)
    texts = {
        "qa": f"Q: {r['question']}\nA: {r['correct_answers'][0]}",
        "auto": lm.tokenizer.apply_chat_template([{"role": "user", "content": r["question"]},
                                                  {"role": "assistant", "content": r["correct_answers"][0]}],
                                                 tokenize=False),
    }
    assert texts["auto"].endswith(r["correct_answers"][0] + "<|im_end|>\n")
    for fmt, text in texts.items():
        out = tmp_path / f"{fmt}.safetensors"
        extract_split(smollm2_dir, "truthfulqa", split, 13, out, limit=1, prompt_format=fmt)
        want = extract_activations(lm, [text], [13], batch_size=1)[13][0]
        torch.testing.assert_close(load_file(str(out))["pos"][0], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("multi", [False, True], ids=["one-layer", "layer-set"])
def test_a_split_without_negatives_is_named_by_both_extractions(multi, smollm2_dir, shared_data, tmp_path):
    """The one-layer and the layer-set extraction share one check: no steerer from one class."""
    from steerbench.io import read_jsonl, write_jsonl
    from steerbench.stages.extract import extract_split
    from steerbench.stages.multilayer import extract_split_layers
    from steerbench.tasks import get_task

    task = get_task("truthfulqa")
    task.download({"path": str(shared_data / "truthfulqa" / "TruthfulQA.csv")}, tmp_path / "raw")
    task.format(tmp_path / "raw", tmp_path / "splits", seed=42)
    split = tmp_path / "only_pos.jsonl"
    write_jsonl(split, [{**r, "incorrect_answers": []} for r in read_jsonl(tmp_path / "splits" / "fold0.jsonl")[:2]])
    out = tmp_path / "acts.safetensors"
    with pytest.raises(ValueError, match="0 negative texts; a steerer needs both classes"):
        if multi:
            extract_split_layers(smollm2_dir, "truthfulqa", split, [12, 13], out)
        else:
            extract_split(smollm2_dir, "truthfulqa", split, 13, out)
    assert not out.exists()
