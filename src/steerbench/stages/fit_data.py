"""Fit data beyond pos/neg activations, for the learned steerers (HPR, RE-Control, TruthFlow).

Two stages, each writing one safetensors file beside the split's activations:

extract_fit_extras -> results/<run>/activations/<model>/<task>/L<layer>/<split>.extra.safetensors
    pos_group [n] int64   question/prompt index of each positive fit text (fit_texts order)
    neg_group [m] int64   the same for each negative fit text
    queries   [q, d]      last-token state (layer output) of each group's query prompt,
                          row g = group g (the task's generation prompt for that record)
    The task supplies the groups and query texts through `Task.fit_extras(records, fmt)`.

collect_trajectories -> results/<run>/activations/<model>/<task>/L<layer>/<split>.traj.safetensors
    traj_states  [N, d]   the layer's output at each response position, teacher-forced on
                          prompt + response: the state from which each response token was
                          sampled (the last prompt token's, then each response token's but
                          the last), as RE-Control's code records them during generation
    traj_rewards [N]      the response's final reward, repeated on each of its states
    traj_episode [N]      int64 response index
    traj_step    [N]      int64 position within the response (0 = the last prompt token)
    Responses are sampled from the unsteered model on the split's prompts with the task's
    generation settings; rewards come from a reward model (`reward: model`) or, offline,
    from the similarity stand-in (`reward: similarity`: best cosine similarity to a
    correct/chosen reference minus best to an incorrect/rejected one).

`load_fit_extras(paths)` merges such files into the `extra` dict `Steerer.fit` takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from safetensors import safe_open
from torch import Tensor

from steerbench.stages.common import check_finite, load_steered_model, read_split, save_tensors, single_device
from steerbench.tasks import get_task


# ------------------------------------------------------------------ groups and queries


def extract_fit_extras(
    model_dir: str | Path,
    task: str,
    split_path: str | Path,
    layer: int,
    out_path: str | Path,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    limit: int | None = None,
    prompt_format: str = "auto",
) -> dict[str, int]:
    """Write pos_group, neg_group and queries for one split (see the module docstring)."""
    from steerbench.lm import PromptFormatter, extract_activations

    t = get_task(task)
    if not hasattr(t, "fit_extras"):
        raise ValueError(
            f"task {task!r} defines no fit_extras (question groups and query prompts), which HPR and "
            f"TruthFlow need; use these methods on a task that does (truthfulqa, ultrafeedback)"
        )
    records = read_split(split_path, limit)
    lm = load_steered_model(model_dir, device, dtype)
    fmt = PromptFormatter(lm, prompt_format)
    extras = t.fit_extras(records, fmt)
    n_pos, n_neg = (len(x) for x in t.fit_texts(records, fmt))
    if (len(extras["pos_group"]), len(extras["neg_group"])) != (n_pos, n_neg):
        raise ValueError(
            f"{task}.fit_extras gives {len(extras['pos_group'])}/{len(extras['neg_group'])} group ids for "
            f"{n_pos}/{n_neg} fit texts; the two methods must walk the records the same way"
        )
    queries = extract_activations(lm, list(extras["query_texts"]), [layer], batch_size=batch_size)[layer]
    check_finite(queries, f"query activations at layer {layer} of {model_dir}")
    tensors = {
        "pos_group": torch.tensor(extras["pos_group"], dtype=torch.int64),
        "neg_group": torch.tensor(extras["neg_group"], dtype=torch.int64),
        "queries": queries.to(torch.float32),
    }
    save_tensors(tensors, out_path, {"model": str(model_dir), "task": task, "split": str(split_path), "layer": str(layer)})
    return {"n_pos": n_pos, "n_neg": n_neg, "n_queries": len(queries)}


# ------------------------------------------------------------------------ trajectories


def response_states(lm, prompts: Sequence[str], responses: Sequence[str], layer: int,
                    batch_size: int = 8) -> list[Tensor]:
    """Per (prompt, response): the layer's output [len(response tokens), d] (float32 CPU) at
    the positions that predicted each response token (last prompt token onwards)."""
    from steerbench.lm.batching import encode, forward_kwargs, input_device, pad_left
    from steerbench.lm.hooks import StopForward, capture_layer

    tok = lm.tokenizer
    p_ids = encode(tok, list(prompts))
    r_ids = [list(x) for x in tok(list(responses), add_special_tokens=False)["input_ids"]] if responses else []
    device = input_device(lm.model)
    out: list[Tensor] = [torch.zeros(0, lm.hidden_size)] * len(p_ids)
    captured: dict[str, Tensor] = {}
    with capture_layer(lm.layer(layer), captured), torch.inference_mode():
        for s in range(0, len(p_ids), batch_size):
            idx = [i for i in range(s, min(s + batch_size, len(p_ids))) if r_ids[i]]
            if not idx:
                continue
            rows = [p_ids[i] + r_ids[i] for i in idx]
            input_ids, mask = pad_left(rows, tok.pad_token_id, device)
            try:
                lm.model(input_ids=input_ids, **forward_kwargs(lm.model, mask))
            except StopForward:
                pass
            h = captured.pop("h").to("cpu", torch.float32)
            width = input_ids.shape[1]
            for b, i in enumerate(idx):
                start = width - len(rows[b]) + len(p_ids[i]) - 1  # the last prompt token
                out[i] = h[b, start:start + len(r_ids[i])].clone()
    return out


RewardFn = Callable[[list[dict], list[str]], list[float]]


def similarity_reward(model_path: str | None, device: str, task: str) -> RewardFn:
    """Offline stand-in for a reward model: max cos to a correct (chosen) reference minus
    max cos to an incorrect (rejected) one, with the similarity scorer's embedder."""
    from steerbench.scoring.similarity import load_similarity_model
    from steerbench.tasks import get_task

    similarity_references = get_task(task).similarity_references
    embedder = load_similarity_model(model_path, device=single_device(device))

    def reward(records: list[dict], responses: list[str]) -> list[float]:
        refs, _ = similarity_references(records)
        out = []
        for ref, text in zip(refs, responses):
            texts = [text, *ref["correct_answers"], *ref["incorrect_answers"]]
            e = torch.from_numpy(embedder.encode(texts, convert_to_numpy=True, normalize_embeddings=True,
                                                 show_progress_bar=False))
            n_c = len(ref["correct_answers"])
            out.append(float((e[1:1 + n_c] @ e[0]).max() - (e[1 + n_c:] @ e[0]).max()))
        return out

    return reward


def model_reward(model_dir: str, device: str, batch_size: int = 4) -> RewardFn:
    """The reward model's scalar for (raw prompt, response), as the reward scorer reads it."""
    from steerbench.scoring.reward import reward_scores
    from steerbench.stages.score import load_reward_model

    model, tokenizer = load_reward_model(model_dir, device)

    def reward(records: list[dict], responses: list[str]) -> list[float]:
        prompts = [r.get("prompt", r.get("question")) for r in records]
        return reward_scores(model, tokenizer, prompts, responses, batch_size=batch_size)

    return reward


def collect_trajectories(
    model_dir: str | Path,
    task: str,
    split_path: str | Path,
    layer: int,
    out_path: str | Path,
    *,
    reward: str = "similarity",
    reward_model: str | None = None,
    n_samples: int = 1,
    settings: dict | None = None,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    limit: int | None = None,
    prompt_format: str = "auto",
) -> dict[str, int]:
    """Generate, score and teacher-force responses on one split; write the traj_* tensors."""
    from steerbench.lm import PromptFormatter, generate
    from steerbench.stages.generate import generation_settings

    if reward not in ("similarity", "model"):
        raise ValueError(f"trajectories.reward={reward!r}: choose 'model' (a reward model folder) or 'similarity'")
    if reward == "model" and not reward_model:
        raise ValueError("trajectories.reward is 'model' but no reward model folder is given (scorers.reward.model)")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"trajectories.n_samples must be a positive int, got {n_samples!r}")
    records = read_split(split_path, limit)
    reward_fn = model_reward(reward_model, device) if reward == "model" else similarity_reward(reward_model, device, task)
    lm = load_steered_model(model_dir, device, dtype)
    t = get_task(task)
    items = t.prompts(records, PromptFormatter(lm, prompt_format))
    gen = generation_settings(task, settings)
    recs = [r for r in records for _ in range(n_samples)]
    prompts = [it["prompt_text"] for it in items for _ in range(n_samples)]
    responses = generate(lm, prompts, batch_size=batch_size, seed=seed, **gen)
    rewards = reward_fn(recs, responses)
    states = response_states(lm, prompts, responses, layer, batch_size=batch_size)
    kept = [i for i, s in enumerate(states) if len(s)]
    if not kept:
        raise ValueError(f"{split_path}: every generated response is empty; nothing to train RE-Control's value on")
    traj = {
        "traj_states": torch.cat([states[i] for i in kept]),
        "traj_rewards": torch.cat([torch.full((len(states[i]),), float(rewards[i])) for i in kept]),
        "traj_episode": torch.cat([torch.full((len(states[i]),), e, dtype=torch.int64) for e, i in enumerate(kept)]),
        "traj_step": torch.cat([torch.arange(len(states[i]), dtype=torch.int64) for i in kept]),
    }
    check_finite(traj["traj_states"], f"response states at layer {layer} of {model_dir}")
    check_finite(traj["traj_rewards"], "rewards")
    save_tensors(traj, out_path, {"model": str(model_dir), "task": task, "split": str(split_path), "layer": str(layer),
                           "reward": reward})
    return {"responses": len(kept), "states": len(traj["traj_states"])}


# ------------------------------------------------------------------------------ loading


def load_fit_extras(paths: Sequence[str | Path]) -> dict[str, Tensor]:
    """The named tensors of every extras file, merged (a name in two files is an error)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    extra: dict[str, Tensor] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no extra fit data; run extract_fit_extras / collect_trajectories first")
        try:
            with safe_open(str(path), framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error type for a corrupted header
            raise ValueError(f"{path}: not a readable safetensors file ({e}); delete it and rerun its rule") from None
        clash = sorted(set(tensors) & set(extra))
        if clash:
            raise ValueError(f"{path}: tensors {clash} also come from another extras file; give each name once")
        extra.update(tensors)
    return extra
