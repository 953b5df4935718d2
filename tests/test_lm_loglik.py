"""loglikelihood: equals a direct computation from logits; steering matches token-by-token decoding."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from steerbench.lm import loglikelihood
from steerbench.lm.hooks import steering
from steerbench.lm.testing import tiny_lm
from support.oracle_hooks import oracle_steering

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


# ------------------------------------------------------------- edit-position policies
class Linear:
    def __init__(self, M: torch.Tensor, positions: str):
        self.M, self.positions = M, positions

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * h @ self.M


def linear(lm, positions: str, seed: int) -> Linear:
    g = torch.Generator().manual_seed(seed)
    return Linear(torch.randn(lm.hidden_size, lm.hidden_size, generator=g) * 2 / lm.hidden_size**0.5, positions)


def oracle_decoding(lm, ctx: str, cont: str, steerers: dict, T: float) -> float:
    """Token-by-token decoding under the oracle hooks (tests/support/oracle_hooks.py): the
    context is the prompt, each fed token a step."""
    c, x = ids_of(lm, ctx, cont)
    total = 0.0
    with oracle_steering(lm, steerers, T), torch.no_grad():
        out = lm.model(torch.tensor([c]), use_cache=True)
        for t in x:
            total += float(torch.log_softmax(out.logits[0, -1].float(), -1)[t])
            out = lm.model(torch.tensor([[t]]), past_key_values=out.past_key_values, use_cache=True)
    return total


@pytest.mark.parametrize("positions", ["last", "prompt", "all"])
def test_policy_equals_oracle_decoding(tokenizer, positions):
    lm = tiny_lm("llama", tokenizer, num_layers=3)
    contexts, conts = _mc_pairs()
    steerers = {1: linear(lm, positions, seed=5)}
    want = [oracle_decoding(lm, c, x, steerers, 1.5) for c, x in zip(contexts, conts)]
    plain = loglikelihood(lm, contexts, conts)
    assert all(abs(a - b) > 1e-3 for a, b in zip(want, plain))  # the steering did something
    for share in (True, False):
        for bs in (1, 5):
            got = loglikelihood(lm, contexts, conts, steerer=steerers, T=1.5, batch_size=bs, share_contexts=share)
            assert got == pytest.approx(want, rel=1e-4, abs=1e-4), (share, bs)
    assert loglikelihood(lm, contexts, conts, steerer=steerers, T=0.0, batch_size=5) == pytest.approx(plain, abs=1e-5)


def test_multi_layer_mixed_policies_equal_oracle_decoding(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=3)
    contexts, conts = _mc_pairs()
    for steerers in ({0: linear(lm, "all", 6), 2: linear(lm, "last", 7)},
                     {0: linear(lm, "prompt", 8), 1: linear(lm, "all", 9), 2: linear(lm, "last", 10)}):
        want = [oracle_decoding(lm, c, x, steerers, 1.0) for c, x in zip(contexts, conts)]
        got = loglikelihood(lm, contexts, conts, steerer=steerers, T=1.0, batch_size=5)
        assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
