"""Log-likelihood of continuations given contexts (multiple-choice scoring), optionally steered.

Steering follows each steerer's `positions` policy (see generate.py), in one
teacher-forced pass: "last" edits every position from the last context token to the end,
"all" every non-pad position, "prompt" shifts every non-pad context position by the edit
computed at the last context token and leaves the continuation alone. That equals
generating the continuation token by token with the generation hooks: an edit depends only
on the unedited state at its source position, which no edit of the same layer can change.

Multiple-choice scoring asks for one context with many continuations (TruthfulQA: ~12
choices per question). A batch whose pairs share contexts runs each distinct context
once, minus its last token (no position there is steered), keeps its key/value cache,
and then runs only [last context token + continuation] per pair against a copy of that
cache: the context's tokens are processed once instead of once per choice. The "prompt"
policy needs the last context token's state to edit the context, so it runs whole.
"""

from __future__ import annotations

import inspect
from typing import Mapping, Sequence

import torch

from .batching import (check_batch_size, check_texts, encode, forward_kwargs, input_device, pad_left, pad_right,
                       position_ids, run_adaptive)
from .generate import steered_layers, steering_context
from .hooks import Steerer, positions_of
from .model import LM


def loglikelihood(
    lm: LM,
    contexts: Sequence[str],
    continuations: Sequence[str],
    steerer: Steerer | Mapping[int, Steerer] | None = None,
    layer: int | None = None,
    T: float = 0.0,
    batch_size: int = 16,
    share_contexts: bool = True,
) -> list[float]:
    """sum_t log p(continuation token t | context, earlier continuation tokens), per pair.

    The context is tokenized as a prompt (BOS added unless present), the continuation
    without special tokens, and the two id lists are joined. `share_contexts=False` runs
    every pair as one full sequence (the reference the shared route is tested against).
    """
    check_texts(contexts, "contexts")
    check_texts(continuations, "continuations")
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations; pass one continuation per context")
    tok = lm.tokenizer
    ctx_ids = encode(tok, contexts)
    cont_ids = [list(r) for r in tok(list(continuations), add_special_tokens=False)["input_ids"]] if continuations else []
    for i, x in enumerate(cont_ids):
        if not x:
            raise ValueError(f"continuations[{i}] ({continuations[i]!r}) tokenizes to nothing; give a non-empty continuation")
    return loglikelihood_ids(lm, ctx_ids, cont_ids, steerer=steerer, layer=layer, T=T, batch_size=batch_size,
                             share_contexts=share_contexts)


def loglikelihood_ids(
    lm: LM,
    ctx_ids: Sequence[Sequence[int]],
    cont_ids: Sequence[Sequence[int]],
    steerer: Steerer | None = None,
    layer: int | None = None,
    T: float = 0.0,
    batch_size: int = 16,
    share_contexts: bool = True,
) -> list[float]:
    """`loglikelihood` on token ids as given (no special tokens added): for scoring rules
    that split one tokenized string at a token index (the official MC rule does)."""
    check_batch_size(batch_size)
    if len(ctx_ids) != len(cont_ids):
        raise ValueError(f"{len(ctx_ids)} contexts but {len(cont_ids)} continuations; pass one continuation per context")
    ctx_ids = [list(c) for c in ctx_ids]
    cont_ids = [list(x) for x in cont_ids]
    for i, (c, x) in enumerate(zip(ctx_ids, cont_ids)):
        if not c:
            raise ValueError(f"contexts[{i}] tokenizes to nothing and the tokenizer adds no BOS; give a non-empty context")
        if not x:
            raise ValueError(f"continuations[{i}] is empty; give a non-empty continuation")
    tok = lm.tokenizer
    model = lm.model
    device = input_device(model)
    params = inspect.signature(model.forward).parameters
    keep_logits = "logits_to_keep" in params
    results: list[float] = [0.0] * len(ctx_ids)
    policies = set()
    if steerer is not None and float(T) != 0.0:
        policies = {positions_of(s) for s in steered_layers(steerer, layer).values()}
    if "prompt" in policies:
        share_contexts = False

    def store(idx: list[int], token_lp: torch.Tensor, valid: torch.Tensor) -> None:
        for i, s in zip(idx, torch.where(valid, token_lp, 0.0).sum(-1).tolist()):
            results[i] = float(s)

    def whole(idx: list[int]) -> None:
        """Each pair as one left-padded sequence, steered from the last context token on."""
        input_ids, mask = pad_left([ctx_ids[i] + cont_ids[i] for i in idx], tok.pad_token_id, device)
        lengths = torch.as_tensor([len(cont_ids[i]) for i in idx], device=device)
        K = int(lengths.max())
        S = input_ids.shape[1]
        last_ctx = S - lengths - 1
        pos = torch.arange(S, device=device)[None, :]
        after = pos >= last_ctx[:, None]
        real = mask.bool()

        def where(positions: str, _layer: int) -> dict:
            if positions == "last":
                return {"mask": after}
            if positions == "all":
                return {"mask": real}
            return {"mask": real & (pos <= last_ctx[:, None]), "source": last_ctx}

        kwargs = forward_kwargs(model, mask)
        if keep_logits:
            kwargs["logits_to_keep"] = K + 1  # only the logits we score: saves [B, S, V] memory
        with steering_context(lm, steerer, layer, T, where):
            logits = model(input_ids=input_ids, **kwargs).logits
        logp = torch.log_softmax(logits[:, -(K + 1) : -1, :].float(), dim=-1)
        token_lp = logp.gather(-1, input_ids[:, -K:].unsqueeze(-1)).squeeze(-1)
        store(idx, token_lp, torch.arange(K, device=device)[None, :] >= (K - lengths)[:, None])

    def shared(idx: list[int], owner: list[int], prefixes: list[list[int]]) -> None:
        """Distinct contexts (all but their last token) once, with a cache (steered only by
        "all" steerers); then
        each pair's [last context token + continuation], right-padded, against its
        context's cache rows, steered at every one of those positions."""
        p_ids, p_mask = pad_left(prefixes, tok.pad_token_id, device)
        kwargs = forward_kwargs(model, p_mask)
        kwargs["use_cache"] = True
        if keep_logits:
            kwargs["logits_to_keep"] = 1

        def prefix_where(positions: str, _layer: int) -> dict:
            # "all" edits the context's own positions; "last" starts at the last context token.
            return {"mask": p_mask.bool()} if positions == "all" else {"plan": lambda h: None}

        with steering_context(lm, steerer, layer, T, prefix_where):
            cache = model(input_ids=p_ids, **kwargs).past_key_values
        if not hasattr(cache, "reorder_cache"):  # a model without transformers' Cache API
            whole(idx)
            return
        rows = torch.as_tensor(owner, device=device)
        cache.reorder_cache(rows)  # one cache row per pair (a gather: copies, repeats allowed)
        t_ids, t_mask = pad_right([[ctx_ids[i][-1]] + cont_ids[i] for i in idx], tok.pad_token_id, device)
        L = t_ids.shape[1]
        mask = torch.cat([p_mask[rows], t_mask], dim=1)
        kwargs = {"attention_mask": mask, "past_key_values": cache, "use_cache": True}
        if "position_ids" in params:
            kwargs["position_ids"] = position_ids(mask)[:, -L:]
        with steering_context(lm, steerer, layer, T, lambda positions, _layer: {"mask": t_mask.bool()}):
            logits = model(input_ids=t_ids, **kwargs).logits
        # Position j of a tail predicts its token j + 1; right padding sits after every real token.
        logp = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
        token_lp = logp.gather(-1, t_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        store(idx, token_lp, t_mask[:, 1:].bool())

    def step(idx: list[int], _: int) -> None:
        # A one-token context has no prefix to cache: such pairs run whole.
        # Pairs share the cached part (all but the last context token), which the last token
        # then joins in each pair's tail: contexts that differ only there share too.
        long = [i for i in idx if len(ctx_ids[i]) > 1]
        slot: dict[tuple[int, ...], int] = {}
        owner = [slot.setdefault(tuple(ctx_ids[i][:-1]), len(slot)) for i in long]
        if not share_contexts or len(slot) == len(long):  # nothing shared: one pass is cheaper
            whole(idx)
            return
        shared(long, owner, [list(key) for key in slot])
        if len(long) < len(idx):
            whole([i for i in idx if len(ctx_ids[i]) == 1])

    # Pairs of one context stay together (so they land in one batch), longest contexts first.
    first: dict[tuple[int, ...], int] = {}
    for i, c in enumerate(ctx_ids):
        first.setdefault(tuple(c[:-1]), i)
    order = sorted(range(len(ctx_ids)), key=lambda i: (-len(ctx_ids[i]), first[tuple(ctx_ids[i][:-1])], -len(cont_ids[i])))
    with torch.inference_mode():
        run_adaptive(order, batch_size, step, desc=f"loglikelihood {lm.name}", unit="pair")
    return results
