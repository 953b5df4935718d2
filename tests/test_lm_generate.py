"""Steered generation: hook semantics, equivalence with plain model.generate, stop strings, seeds."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from steerbench.lm import extract_activations, format_prompt, generate, load_model
from steerbench.lm.generate import trim_at_stop
from steerbench.lm.testing import tiny_lm
from support.oracle_hooks import oracle_steering

PROMPTS = [
    "The quick brown fox jumps over the lazy dog and then",
    "Hi",
    "A medium sized sentence about cats",
    "Once upon a time",
]
GREEDY = dict(do_sample=False, repetition_penalty=1.0, max_new_tokens=6)


class Recorder:
    """Identity steerer that keeps every input it is given."""

    def __init__(self):
        self.calls: list[tuple[torch.Tensor, float]] = []

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        self.calls.append((h.clone(), T))
        return h


class AddVector:
    def __init__(self, v: torch.Tensor):
        self.v = v

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * self.v


class Boom:
    def __init__(self, after: int):
        self.left = after

    def steer(self, h, T):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("steerer exploded")
        return h


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir):
    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="module")
def llama(tokenizer):
    return tiny_lm("llama", tokenizer, num_layers=3)


def plain_generate(lm, prompt: str, max_new_tokens: int) -> str:
    enc = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = lm.model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


@pytest.mark.parametrize("family", ["llama", "gpt2", "falcon"])
def test_nosteer_and_T0_equal_plain_generate(tokenizer, family):
    lm = tiny_lm(family, tokenizer, num_layers=2)
    expected = [plain_generate(lm, p, 6) for p in PROMPTS]
    assert generate(lm, PROMPTS, batch_size=4, **GREEDY) == expected
    # T = 0 skips the hook entirely; an identity steerer at T > 0 runs it and changes nothing.
    assert generate(lm, PROMPTS, steerer=AddVector(torch.ones(lm.hidden_size)), layer=1, T=0.0, batch_size=4, **GREEDY) == expected
    assert generate(lm, PROMPTS, steerer=Recorder(), layer=1, T=1.0, batch_size=4, **GREEDY) == expected


def test_batched_equals_unbatched(llama):
    assert generate(llama, PROMPTS, batch_size=4, **GREEDY) == generate(llama, PROMPTS, batch_size=1, **GREEDY)


def test_one_position_per_row_per_forward_pass(llama):
    rec = Recorder()
    generate(llama, PROMPTS[:3], steerer=rec, layer=1, T=2.5, batch_size=3, **GREEDY)
    # Prefill + one pass per further new token; each call sees one row per sequence.
    assert 1 <= len(rec.calls) <= GREEDY["max_new_tokens"]
    assert all(h.shape == (3, llama.hidden_size) and T == 2.5 for h, T in rec.calls)
    # At prefill the steered rows are the last real prompt tokens (longest prompt first),
    # never a padding position.
    prefill = rec.calls[0][0]
    lengths = [len(llama.tokenizer(p)["input_ids"]) for p in PROMPTS[:3]]
    order = sorted(range(3), key=lambda i: -lengths[i])
    expected = extract_activations(llama, PROMPTS[:3], [1])[1][order]
    torch.testing.assert_close(prefill, expected, rtol=1e-4, atol=1e-5)


def test_only_last_position_is_edited(llama):
    """The edited layer output differs from the unsteered one at position -1 only."""
    v = torch.randn(llama.hidden_size)
    seen: list[torch.Tensor] = []
    # What layer 2 receives is layer 1's (possibly steered) output.
    handle = llama.layers[2].register_forward_pre_hook(lambda m, args, kw: seen.append(args[0].clone() if args else kw["hidden_states"].clone()), with_kwargs=True)
    try:
        generate(llama, PROMPTS[:3], batch_size=3, **{**GREEDY, "max_new_tokens": 1})
        generate(llama, PROMPTS[:3], steerer=AddVector(v), layer=1, T=1.0, batch_size=3, **{**GREEDY, "max_new_tokens": 1})
    finally:
        handle.remove()
    plain, steered = seen
    diff = steered - plain
    torch.testing.assert_close(diff[:, -1, :], v.expand(3, -1), rtol=1e-5, atol=1e-5)
    assert torch.count_nonzero(diff[:, :-1, :]) == 0  # padding and earlier tokens untouched


def test_steering_changes_the_text(llama):
    base = generate(llama, PROMPTS, **GREEDY)
    pushed = generate(llama, PROMPTS, steerer=AddVector(torch.randn(llama.hidden_size) * 50), layer=1, T=1.0, **GREEDY)
    assert pushed != base


def test_hook_removed_when_generation_raises(llama):
    with pytest.raises(RuntimeError, match="steerer exploded"):
        generate(llama, PROMPTS, steerer=Boom(after=2), layer=1, T=1.0, **GREEDY)
    assert all(len(layer._forward_hooks) == 0 for layer in llama.layers)
    assert generate(llama, PROMPTS, **GREEDY) == [plain_generate(llama, p, 6) for p in PROMPTS]


def test_sampling_is_reproducible_per_seed(llama):
    kw = dict(do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=8, batch_size=2)
    a = generate(llama, PROMPTS, seed=3, **kw)
    assert generate(llama, PROMPTS, seed=3, **kw) == a
    assert generate(llama, PROMPTS, seed=4, **kw) != a


def test_bad_arguments(llama):
    with pytest.raises(ValueError, match="without `layer`"):
        generate(llama, PROMPTS, steerer=Recorder(), T=1.0)
    with pytest.raises(ValueError, match="out of range"):
        generate(llama, PROMPTS, steerer=Recorder(), layer=7, T=1.0)

    class WrongShape:
        def steer(self, h, T):
            return h[:, :3]

    with pytest.raises(ValueError, match="same shape"):
        generate(llama, PROMPTS, steerer=WrongShape(), layer=0, T=1.0, **GREEDY)
    assert all(len(layer._forward_hooks) == 0 for layer in llama.layers)


def test_trim_at_stop():
    assert trim_at_stop("yes\nQ: next", ["\nQ:"]) == "yes"
    assert trim_at_stop("a.b,c", [",", "."]) == "a"
    assert trim_at_stop("plain", ["\nQ:"]) == "plain"


def test_real_model_stops_at_stop_string(smollm2_dir):
    lm = load_model(smollm2_dir)
    prompt = format_prompt(lm, "List three fruits, one per line.")
    out = generate(lm, [prompt], max_new_tokens=25, do_sample=False, stop=["\n"])[0]
    assert out.strip() and "\n" not in out


def test_stop_string_never_matches_across_the_prompt_end(smollm2_dir):
    """The chat prompt ends in "\\n"; a stop string made of that newline and the answer's first
    characters is in prompt+answer but not in the answer: generation must not stop on it
    (HF's stop_strings would, after one token), as the paper's code cuts the answer alone."""
    lm = load_model(smollm2_dir)
    prompt = format_prompt(lm, "Name a fruit.")
    assert prompt.endswith("\n")
    free = generate(lm, [prompt], max_new_tokens=12, do_sample=False)[0]
    across = "\n" + free[:3]
    assert across not in free and len(free) > 3
    assert generate(lm, [prompt], max_new_tokens=12, do_sample=False, stop=[across])[0] == free
    # A stop string inside the answer still ends it there.
    inside = free[2:6]
    assert generate(lm, [prompt], max_new_tokens=12, do_sample=False, stop=[inside])[0] == free[:2]


# ------------------------------------------------------------- edit-position policies
class Linear:
    """h + T * h @ M: the edit depends on the state, so it matters which state it is computed from."""

    def __init__(self, M: torch.Tensor, positions: str):
        self.M, self.positions = M, positions

    def steer(self, h: torch.Tensor, T: float) -> torch.Tensor:
        return h + T * h @ self.M


def linear(lm, positions: str, seed: int, scale: float = 0.5) -> Linear:
    g = torch.Generator().manual_seed(seed)
    return Linear(torch.randn(lm.hidden_size, lm.hidden_size, generator=g) * scale / lm.hidden_size**0.5, positions)


def oracle_generate(lm, prompt: str, steerers: dict, T: float, max_new_tokens: int) -> str:
    """One unpadded prompt under the oracle hooks (tests/support/oracle_hooks.py)."""
    with oracle_steering(lm, steerers, T):
        return plain_generate(lm, prompt, max_new_tokens)


@pytest.mark.parametrize("positions", ["last", "prompt", "all"])
def test_policy_matches_oracle_batched_and_unbatched(llama, positions):
    s = linear(llama, positions, seed=1, scale=3.0)
    want = [oracle_generate(llama, p, {1: s}, 2.0, 6) for p in PROMPTS]
    assert want != [plain_generate(llama, p, 6) for p in PROMPTS]  # the steering does something
    assert generate(llama, PROMPTS, steerer=s, layer=1, T=2.0, batch_size=4, **GREEDY) == want
    assert generate(llama, PROMPTS, steerer=s, layer=1, T=2.0, batch_size=1, **GREEDY) == want
    # T = 0 is the unsteered model whatever the policy.
    assert generate(llama, PROMPTS, steerer=s, layer=1, T=0.0, batch_size=4, **GREEDY) == generate(llama, PROMPTS, **GREEDY)


def test_multi_layer_mapping_matches_oracle(llama):
    steerers = {0: linear(llama, "prompt", seed=2, scale=3.0), 1: linear(llama, "all", seed=3, scale=2.0),
                2: linear(llama, "last", seed=4, scale=2.0)}
    want = [oracle_generate(llama, p, steerers, 1.5, 6) for p in PROMPTS]
    for only in steerers:  # every layer's edit counts: none of the single-layer runs gives the same texts
        assert want != [oracle_generate(llama, p, {only: steerers[only]}, 1.5, 6) for p in PROMPTS]
    assert generate(llama, PROMPTS, steerer=steerers, T=1.5, batch_size=4, **GREEDY) == want
    assert generate(llama, PROMPTS, steerer=steerers, T=1.5, batch_size=1, **GREEDY) == want
    assert all(len(layer._forward_hooks) == 0 for layer in llama.layers)


def _layer_inputs(lm, at: int, **kw) -> list[torch.Tensor]:
    """What decoder layer `at` receives on each forward of one generate() call."""
    seen: list[torch.Tensor] = []
    handle = lm.layers[at].register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((args[0] if args else kwargs["hidden_states"]).clone()), with_kwargs=True)
    try:
        generate(lm, PROMPTS[:3], batch_size=3, **{**GREEDY, "max_new_tokens": 3}, **kw)
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("positions", ["last", "prompt", "all"])
def test_policy_edits_exactly_its_positions_never_padding(llama, positions):
    v = torch.randn(llama.hidden_size)

    class Add:
        calls = []

        def steer(self, h, T):
            self.calls.append(tuple(h.shape))
            return h + T * v

    Add.positions = positions
    plain = _layer_inputs(llama, 2)
    steered = _layer_inputs(llama, 2, steerer=Add(), layer=1, T=1.0)
    assert len(plain) == len(steered) == 3  # prefill + 2 decoding steps
    lengths = [len(llama.tokenizer(p)["input_ids"]) for p in PROMPTS[:3]]
    S = plain[0].shape[1]
    # Rows are run longest first; a row's prompt occupies its last `length` positions.
    real = torch.zeros(3, S, dtype=torch.bool)
    for row, i in enumerate(sorted(range(3), key=lambda i: -lengths[i])):
        real[row, S - lengths[i]:] = True
    diff = steered[0] - plain[0]
    edited = (diff.abs().amax(-1) > 0)
    expected = {"last": torch.zeros_like(real).index_fill_(1, torch.tensor([S - 1]), True), "prompt": real, "all": real}[positions]
    assert torch.equal(edited, expected)
    torch.testing.assert_close(diff[edited], v.expand(int(edited.sum()), -1), rtol=1e-5, atol=1e-5)
    # Decoding steps: one row per sequence steered per step, unless the policy is "prompt".
    prefill_rows = {"last": 3, "prompt": 3, "all": int(real.sum())}[positions]
    decode = [] if positions == "prompt" else [(3, llama.hidden_size)] * 2
    assert Add.calls == [(prefill_rows, llama.hidden_size), *decode]


def test_bad_steerer_mapping_and_policy(llama):
    s = linear(llama, "last", seed=0)
    with pytest.raises(ValueError, match="`layer` must be None"):
        generate(llama, PROMPTS, steerer={1: s}, layer=1, T=1.0, **GREEDY)
    with pytest.raises(ValueError, match="is empty"):
        generate(llama, PROMPTS, steerer={}, T=1.0, **GREEDY)
    with pytest.raises(ValueError, match="out of range"):
        generate(llama, PROMPTS, steerer={0: s, 9: s}, T=1.0, **GREEDY)
    with pytest.raises(ValueError, match="must be one of"):
        generate(llama, PROMPTS, steerer={0: Linear(s.M, "middle")}, T=1.0, **GREEDY)
    assert all(len(layer._forward_hooks) == 0 for layer in llama.layers)
