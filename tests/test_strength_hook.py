"""Alpha-batched steering: one forward with k alphas equals k separately steered forwards."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from steerbench.lm import load_model
from steerbench.lm.batching import encode, forward_kwargs, pad_left
from steerbench.lm.testing import tiny_lm
from steerbench.steerers import get_steerer
from steerbench.strength.curves import next_token_probs
from steerbench.strength.hook import alpha_steering
from steerbench.strength.vectors import concept_vectors, token_mean_features

ALPHAS = [-6.0, -1.5, 0.0, 2.0, 7.5]
TEXTS = ["I am so happy today because", "The meeting is at", "Hi"]


class Tanh:
    """A nonlinear steerer (not a constant vector): exercises the per-alpha group path."""

    def __init__(self, v):
        self.v = v

    def steer(self, h, T):
        return h + torch.tanh(h) * T * self.v


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir):
    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    return load_model(smollm2_dir, dtype="float32", device="cpu")


def separate(lm, ids, mask, layer, steerer, alpha):
    """The reference: one plain forward with a hook adding alpha * steer at real tokens."""

    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        h = h.clone()
        m = mask.bool()
        if alpha != 0.0:
            h[m] = steerer.steer(h[m], alpha) if hasattr(steerer, "steer") else h[m] + alpha * steerer
        return (h, *output[1:]) if isinstance(output, tuple) else h

    handle = lm.layer(layer).register_forward_hook(hook)
    try:
        with torch.inference_mode():
            return lm.model(input_ids=ids, **forward_kwargs(lm.model, mask)).logits
    finally:
        handle.remove()


def batched(lm, ids, mask, layer, steerer, alphas):
    """All alphas in one forward: every text replicated once per alpha (alpha-major rows)."""
    k, n = len(alphas), ids.shape[0]
    rows = torch.tensor(alphas).repeat_interleave(n)
    with torch.inference_mode(), alpha_steering(lm.layer(layer), steerer, rows, mask.repeat(k, 1)):
        logits = lm.model(input_ids=ids.repeat(k, 1), **forward_kwargs(lm.model, mask.repeat(k, 1))).logits
    return logits.reshape(k, n, *logits.shape[1:])


def check_equal(lm, steerer, layer=1, atol=1e-4):
    ids, mask = pad_left(encode(lm.tokenizer, TEXTS), lm.tokenizer.pad_token_id, torch.device("cpu"))
    got = batched(lm, ids, mask, layer, steerer, ALPHAS)
    m = mask.bool()
    for i, a in enumerate(ALPHAS):
        want = separate(lm, ids, mask, layer, steerer, a)
        torch.testing.assert_close(got[i][m], want[m], atol=atol, rtol=1e-4)
    # Steering did something: the extreme alphas give different logits.
    assert (got[0][m] - got[-1][m]).abs().max() > 1e-2


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_batched_equals_separate_tiny(tokenizer, family):
    lm = tiny_lm(family, tokenizer, num_layers=3)
    v = torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(0))
    check_equal(lm, v)
    check_equal(lm, Tanh(v))


def test_batched_equals_separate_smollm2(smollm2):
    cv = concept_vectors(smollm2, ["What a joyful day!", "I love this, it is wonderful."], ["The table is brown.", "File the form."], [5])
    check_equal(smollm2, cv.vectors[5], layer=5, atol=2e-3)
    caa = get_steerer("CAA").fit(cv.pos[5], cv.neg[5])
    check_equal(smollm2, caa, layer=5, atol=2e-3)


def test_curves_chunking_does_not_change_probs(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=2)
    v = torch.randn(lm.hidden_size, generator=torch.Generator().manual_seed(1))
    ids = encode(tokenizer, ["Once upon a time there"])[0]
    all_in_one = next_token_probs(lm, ids, 1, v, ALPHAS, batch_size=64)
    one_each = next_token_probs(lm, ids, 1, v, ALPHAS, batch_size=1)
    torch.testing.assert_close(all_in_one, one_each, atol=1e-5, rtol=1e-4)


def test_vectors_are_mean_difference_of_token_means(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=3)
    pos, neg = ["happy happy joy", "so glad"], ["a plain table", "the form is filed today"]
    cv = concept_vectors(lm, pos, neg, [0, 1], batch_size=1)
    # The reference: hidden_states[l + 1] of each text alone, averaged over its tokens (not the
    # last layer: HF applies the final norm to hidden_states[-1]).
    def feat(text, layer):
        ids = torch.tensor([encode(tokenizer, [text])[0]])
        with torch.inference_mode():
            return lm.model(input_ids=ids, output_hidden_states=True).hidden_states[layer + 1][0].mean(0)
    for layer in (0, 1):
        want = torch.stack([feat(t, layer) for t in pos]).mean(0) - torch.stack([feat(t, layer) for t in neg]).mean(0)
        torch.testing.assert_close(cv.vectors[layer], want, atol=1e-5, rtol=1e-4)
    # Batching with padding gives the same features (pad tokens excluded from the means).
    padded = token_mean_features(lm, pos + neg, [0, 1], batch_size=4)
    torch.testing.assert_close(padded.features[1][:2], cv.pos[1], atol=1e-5, rtol=1e-4)
    assert cv.mean_norm[1] > 0


def test_alpha_count_must_match_batch(tokenizer):
    lm = tiny_lm("llama", tokenizer, num_layers=2)
    ids = torch.tensor([encode(tokenizer, ["hello there"])[0]] * 3)
    with pytest.raises(ValueError, match="3 rows but 2 alphas"):
        with alpha_steering(lm.layer(0), torch.ones(lm.hidden_size), torch.tensor([1.0, 2.0])):
            lm.model(input_ids=ids)
