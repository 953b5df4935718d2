"""Language-model runtime: loading, activation extraction, steered generation, scoring."""

from .convert import convert_gguf, package_gguf_path, smollm2_gguf_path
from .extract import extract_activations
from .generate import generate
from .loglik import loglikelihood
from .model import LM, PromptFormatter, find_decoder_layers, format_prompt, load_model, wrap_model

__all__ = [
    "LM",
    "PromptFormatter",
    "convert_gguf",
    "extract_activations",
    "find_decoder_layers",
    "format_prompt",
    "generate",
    "load_model",
    "loglikelihood",
    "package_gguf_path",
    "smollm2_gguf_path",
    "wrap_model",
]
