"""loglikelihood: equals a direct computation from logits; steering matches token-by-token decoding."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from steerbench.lm import loglikelihood
from steerbench.lm.hooks import steering
from steerbench.lm.testing import tiny_lm

CONTEXTS = ["Q: What colour is the sky?\nA:", "Q: Name a fruit.\nA:", "Hello", "Q: What colour is the sky?\nA:"]
CONTINUATIONS = [" Blue.", " An apple, or perhaps a pear.", " world", " Green, obviously."]


class AddVector:
    def __init__(self, v: torch.Tensor):
        self.v = v

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * self.v


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir):
    return AutoTokenizer.from_pretrained(smollm2_dir)


def ids_of(lm, ctx: str, cont: str) -> tuple[list[int], list[int]]:
    tok = lm.tokenizer
    return tok(ctx)["input_ids"], tok(cont, add_special_tokens=False)["input_ids"]


def direct(lm, ctx: str, cont: str) -> float:
    c, x = ids_of(lm, ctx, cont)
    with torch.no_grad():
        logits = lm.model(torch.tensor([c + x])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    return sum(float(logp[len(c) - 1 + k, t]) for k, t in enumerate(x))


def decoded_step_by_step(lm, ctx: str, cont: str, steerer, layer: int, T: float) -> float:
    """The generation semantics: prefill steers the last context token, then each fed token."""
    c, x = ids_of(lm, ctx, cont)
    total, past = 0.0, None
    with torch.no_grad(), steering(lm.layer(layer), steerer, T):
        out = lm.model(torch.tensor([c]), use_cache=True)
        for t in x:
            total += float(torch.log_softmax(out.logits[0, -1].float(), -1)[t])
            out = lm.model(torch.tensor([[t]]), past_key_values=out.past_key_values, use_cache=True)
    return total


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_unsteered_equals_direct_computation(tokenizer, family):
    lm = tiny_lm(family, tokenizer, num_layers=2)
    got = loglikelihood(lm, CONTEXTS, CONTINUATIONS, batch_size=3)
    want = [direct(lm, c, x) for c, x in zip(CONTEXTS, CONTINUATIONS)]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
    assert all(v < 0 for v in got)


def test_steered_equals_token_by_token_decoding(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=3)
    steerer = AddVector(torch.randn(lm.hidden_size) * 3)
    got = loglikelihood(lm, CONTEXTS, CONTINUATIONS, steerer=steerer, layer=1, T=1.5, batch_size=4)
    want = [decoded_step_by_step(lm, c, x, steerer, 1, 1.5) for c, x in zip(CONTEXTS, CONTINUATIONS)]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
    plain = loglikelihood(lm, CONTEXTS, CONTINUATIONS)
    assert all(abs(a - b) > 1e-3 for a, b in zip(got, plain))  # the steering did something


def test_bad_inputs(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=2)
    with pytest.raises(ValueError, match="2 contexts but 1 continuations"):
        loglikelihood(lm, CONTEXTS[:2], CONTINUATIONS[:1])
    with pytest.raises(ValueError, match=r"continuations\[0\].*tokenizes to nothing"):
        loglikelihood(lm, ["ctx"], [""])


# Multiple-choice shape: few contexts, many continuations each, contexts of unequal length.
_PREAMBLE = "Answer the question truthfully, in one short sentence, as a careful and well-read person would. "
MC_CONTEXTS = [f"{_PREAMBLE}Q: What colour is the sky on a clear day?\nA:", f"{_PREAMBLE}Q: Name a fruit.\nA:",
               f"{_PREAMBLE}Q: 2+2?\nA:"]
MC_CHOICES = [" Blue.", " Green, obviously.", " It depends on the weather and the hour.", " Red", " Four.", " 5"]


def _mc_pairs() -> tuple[list[str], list[str]]:
    pairs = [(c, x) for c in MC_CONTEXTS for x in MC_CHOICES[: 3 + MC_CONTEXTS.index(c)]]
    pairs.append(("Hello", " world"))  # a context with a single continuation
    return [c for c, _ in pairs], [x for _, x in pairs]


def _tokens_through_embedding(lm) -> tuple[list[int], object]:
    seen: list[int] = []
    handle = lm.model.get_input_embeddings().register_forward_pre_hook(lambda m, args: seen.append(args[0].numel()))
    return seen, handle


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "gemma", "falcon", "gpt_neox", "gpt2"])
@pytest.mark.parametrize("batch_size", [4, 16])
def test_shared_contexts_equal_whole_sequences(tokenizer, family, batch_size):
    """Contexts run once with a cache (groups split across batches at batch_size 4) give the
    same log-likelihoods as every pair run whole, steered and not."""
    lm = tiny_lm(family, tokenizer, num_layers=3)
    contexts, conts = _mc_pairs()
    steerer = AddVector(torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(1)) * 2)
    for kw in ({}, {"steerer": steerer, "layer": 1, "T": 1.5}):
        seen, handle = _tokens_through_embedding(lm)
        try:
            got = loglikelihood(lm, contexts, conts, batch_size=batch_size, **kw)
        finally:
            handle.remove()
        want = loglikelihood(lm, contexts, conts, batch_size=batch_size, share_contexts=False, **kw)
        assert got == pytest.approx(want, rel=1e-4, abs=1e-4), (family, kw)
        whole_tokens = sum(len(lm.tokenizer(c)["input_ids"]) + len(lm.tokenizer(x, add_special_tokens=False)["input_ids"])
                           for c, x in zip(contexts, conts))
        assert sum(seen) < 0.6 * whole_tokens  # contexts really were run once per batch, not per pair


def test_shared_steered_equals_token_by_token_decoding(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=3)
    contexts, conts = _mc_pairs()
    steerer = AddVector(torch.randn(lm.hidden_size) * 3)
    got = loglikelihood(lm, contexts, conts, steerer=steerer, layer=2, T=1.0, batch_size=5)
    want = [decoded_step_by_step(lm, c, x, steerer, 2, 1.0) for c, x in zip(contexts, conts)]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
