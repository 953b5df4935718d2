"""Steered generation: the paper's hook semantics on top of ``model.generate``.

Each steerer edits its layer's output where its `positions` policy says:
  "last"    the last position of every forward pass: the last prompt token at prefill, then
            each new token while decoding with the KV cache (the ODESteer paper's hook);
  "prompt"  at prefill only, every non-pad prompt position gets the edit computed from the
            last prompt token's state, steer(h_last) - h_last (AlphaSteer); decoding untouched;
  "all"     every non-pad position at prefill, then each new token.
Earlier positions are never re-steered (their keys/values are cached); padding never is.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import torch

from .batching import check_batch_size, check_texts, encode, input_device, longest_first, pad_left, run_adaptive
from .hooks import Steerer, positions_of, steering
from .model import LM


def steered_layers(steerer, layer: int | None) -> dict[int, Steerer]:
    """{layer: steerer}: one steerer at `layer`, or a mapping {layer: steerer} (then no `layer`)."""
    if isinstance(steerer, Mapping):
        if layer is not None:
            raise ValueError(f"steerer is a {{layer: steerer}} mapping, so `layer` must be None (got {layer!r})")
        if not steerer:
            raise ValueError("steerer mapping {layer: steerer} is empty; give at least one layer")
        layers = dict(steerer)
    else:
        if layer is None:
            raise ValueError("a steerer was given without `layer`; pass the decoder layer to steer at")
        layers = {layer: steerer}
    for index, s in layers.items():
        if not hasattr(s, "steer"):
            raise ValueError(f"steerer {type(s).__name__} at layer {index} has no .steer(h, T) method")
        positions_of(s)
    return layers


@contextlib.contextmanager
def steering_context(lm: LM, steerer, layer: int | None, T: float, where=None):
    """The steering hooks (one per steered layer), or nothing when steering is a no-op (no
    steerer, or T == 0). `where(positions, layer)` gives `hooks.steering`'s mask/source/plan
    keywords for a layer whose steerer has that edit policy; None: the last position of
    every forward pass for every steerer."""
    if steerer is None or float(T) == 0.0:
        yield
        return
    layers = steered_layers(steerer, layer)
    modules = {index: lm.layer(index) for index in layers}  # range errors before any hook exists
    with contextlib.ExitStack() as stack:
        for index, s in layers.items():
            kw = {} if where is None else where(positions_of(s), index)
            stack.enter_context(steering(modules[index], s, float(T), **kw))
        yield


class _Prefill:
    """Tells each layer's hook whether a forward pass is the prefill of the current batch
    (its first forward after `begin`) or a decoding step, and where the prompt's padding is."""

    def __init__(self) -> None:
        self.mask: torch.Tensor | None = None
        self.done: set[int] = set()

    def begin(self, mask: torch.Tensor) -> None:
        self.mask, self.done = mask.bool(), set()

    def where(self, positions: str, layer: int) -> dict:
        if positions == "last":  # every forward's last position: a plain hook does that
            return {}

        def plan(h: torch.Tensor):
            if layer in self.done:  # a decoding step: one new token per row
                return None if positions == "prompt" else (None, None)
            self.done.add(layer)
            if self.mask is None or h.shape[:2] != self.mask.shape:
                raise ValueError(f"prefill hidden state {tuple(h.shape[:2])} does not match the prompt mask")
            # Left padding: every row's last prompt token sits at the last position.
            source = torch.full((h.shape[0],), h.shape[1] - 1, device=h.device) if positions == "prompt" else None
            return self.mask, source

        return {"plan": plan}


def trim_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut `text` at the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


class _StopInNewText:
    """Ends a row once one of `stop` appears in its generated text. HF's stop_strings also
    match across the prompt's end (a chat prompt ending in "\n" plus an answer starting
    "Q:" would stop at once on "\nQ:"); the paper's code cuts the response text alone.
    Only the last `window` new tokens are decoded per step (see `stop_window`): a stop string
    is caught on the step it completes, and a finished row stays finished."""

    def __init__(self, tokenizer, stop: tuple[str, ...], window: int, prompt_len: int) -> None:
        self.tok, self.stop, self.window, self.prompt_len = tokenizer, stop, window, prompt_len

    @staticmethod
    def stop_window(tokenizer, stop: tuple[str, ...]) -> int:
        """New tokens enough to hold any stop string, whatever tokens precede it."""
        return 2 * max(len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in stop) + 4

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        start = max(self.prompt_len, input_ids.shape[1] - self.window)
        tails = self.tok.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in tails], dtype=torch.bool, device=input_ids.device)


def _batch_seed(seed: int, batch_number: int) -> int:
    # One seed per batch: a batch's samples do not depend on the batches before it.
    return (int(seed) * 1_000_003 + batch_number) % (2**63)


def generate(
    lm: LM,
    prompts: Sequence[str],
    steerer: Steerer | Mapping[int, Steerer] | None = None,
    layer: int | None = None,
    T: float = 0.0,
    max_new_tokens: int = 50,
    do_sample: bool = True,
    temperature: float = 0.7,
    top_p: float = 0.9,
    repetition_penalty: float = 1.1,
    stop: Sequence[str] = (),
    batch_size: int = 16,
    seed: int = 0,
    *,
    min_new_tokens: int = 0,
    top_k: int | None = None,
    no_repeat_ngram_size: int = 0,
) -> list[str]:
    """Continuations (new text only, stop strings trimmed) of formatted `prompts`, input order.

    Each batch is seeded from (seed, batch number), so a run is reproducible for a given
    seed and batch size. `min_new_tokens` suppresses EOS until that many tokens (timing runs).
    `top_k` None samples from the whole top-p nucleus (the paper's code leaves transformers'
    default top_k=50 on: the tasks' paper defaults set it); `no_repeat_ngram_size` n > 0 bans
    repeating any n-gram (the official UltraFeedback script sets 2).
    `steerer` at `layer`, or a {layer: steerer} mapping (layer None) steering several layers
    in one pass; each steerer's `positions` says where it edits (module doc).
    """
    from transformers import GenerationConfig, StoppingCriteriaList

    check_texts(prompts, "prompts")
    check_batch_size(batch_size)
    if isinstance(stop, str):
        stop = (stop,)
    stop = tuple(s for s in stop if s)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not isinstance(min_new_tokens, int) or not 0 <= min_new_tokens <= max_new_tokens:
        raise ValueError(f"min_new_tokens must be an int in 0..max_new_tokens, got {min_new_tokens!r}")
    if do_sample and not (temperature > 0 and 0 < top_p <= 1):
        raise ValueError(f"sampling needs temperature > 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None (no top-k cut), got {top_k!r}")
    if not isinstance(no_repeat_ngram_size, int) or no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be an int >= 0 (0: off), got {no_repeat_ngram_size!r}")
    tok = lm.tokenizer
    ids = encode(tok, prompts)
    if any(not row for row in ids):
        raise ValueError("a prompt tokenizes to nothing; drop empty prompts")
    eos = lm.model.generation_config.eos_token_id
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens or None,
        do_sample=bool(do_sample),
        temperature=float(temperature) if do_sample else None,
        top_p=float(top_p) if do_sample else None,
        top_k=top_k if do_sample else None,
        repetition_penalty=float(repetition_penalty),
        no_repeat_ngram_size=no_repeat_ngram_size or None,
        pad_token_id=tok.pad_token_id,
        eos_token_id=eos if eos is not None else tok.eos_token_id,
        bos_token_id=lm.model.generation_config.bos_token_id,
    )
    device = input_device(lm.model)
    results: list[str] = [""] * len(prompts)
    window = _StopInNewText.stop_window(tok, stop) if stop else 0

    def step(idx: list[int], number: int) -> None:
        input_ids, mask = pad_left([ids[i] for i in idx], tok.pad_token_id, device)
        prefill.begin(mask)
        torch.manual_seed(_batch_seed(seed, number))
        # Stop strings end a row early (a batch ends when all rows did); the text is
        # trimmed at the stop string below either way.
        extra = {}
        if stop:
            extra["stopping_criteria"] = StoppingCriteriaList([_StopInNewText(tok, stop, window, input_ids.shape[1])])
        out = lm.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config, **extra)
        texts = tok.batch_decode(out[:, input_ids.shape[1] :], skip_special_tokens=True)
        for i, text in zip(idx, texts):
            results[i] = trim_at_stop(text, stop)

    prefill = _Prefill()
    with torch.inference_mode(), steering_context(lm, steerer, layer, T, prefill.where):
        run_adaptive(longest_first([len(r) for r in ids]), batch_size, step, desc=f"generate {lm.name}", unit="prompt")
    return results
