"""Language-model runtime: loading, activation extraction, steered generation, scoring.

Names are imported on first use (PEP 562), so `steerbench.lm.prompts` and the tasks that
use it do not pull in torch and transformers.
"""

from __future__ import annotations

import importlib
import sys
import types

_WHERE = {
    "convert_gguf": "convert",
    "package_gguf_path": "convert",
    "smollm2_gguf_path": "convert",
    "extract_activations": "extract",
    "generate": "generate",
    "loglikelihood": "loglik",
    "LM": "model",
    "PromptFormatter": "model",
    "find_decoder_layers": "model",
    "format_prompt": "model",
    "load_model": "model",
    "wrap_model": "model",
    "Formatter": "prompts",
    "answer_after": "prompts",
    "fit_text": "prompts",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'steerbench.lm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"steerbench.lm.{module}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    # Importing the submodule steerbench.lm.generate makes Python set the package's
    # attribute `generate` to that module; keep it the function, as the eager package did.
    def __setattr__(self, name: str, value) -> None:
        if name == "generate" and isinstance(value, types.ModuleType):
            value = value.generate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
