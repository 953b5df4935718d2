"""Stage generate: steered generation on every eval split of a task, folds joined.

One job loads the model once and runs each (fit split -> eval split) pair of the task's
plan, so TruthfulQA's two folds need one model load, not two.
"""

from __future__ import annotations

from pathlib import Path

from steerbench.integrity import stamp_expected
from steerbench.io import write_jsonl
from steerbench.param_checks import PER_SPLIT
from steerbench.stages.common import load_steered_model, read_split
from steerbench.stages.multilayer import is_multi, load_steerers
from steerbench.steerers import load_steerer
from steerbench.tasks import get_task


def generation_settings(task: str, overrides: dict | None) -> dict:
    settings = dict(get_task(task).generation)
    settings.update({k: v for k, v in (overrides or {}).items() if k != PER_SPLIT})
    return settings


def split_settings(t, split: str, overrides: dict, settings: dict) -> dict:
    """The settings of one eval split: the task's per-split defaults where it has them
    (`generation_for`, e.g. refusal's longer GSM8K answers), then the config's keys, then
    the config's `per_split` entry for this split."""
    per_split = dict((overrides.get(PER_SPLIT) or {}).get(split) or {})
    common = {k: v for k, v in overrides.items() if k != PER_SPLIT}
    if not hasattr(t, "generation_for"):
        return {**settings, **per_split}
    return {**t.generation_for(split), **common, **per_split}


def _groups(t, plan, overrides: dict, settings: dict) -> list[list[tuple]]:
    """The plan's (split, steerer, eval file, settings) in generate calls: one per split, except
    that a task with per-split settings (greedy refusal: many small eval sets under one steerer)
    joins consecutive splits that share the steerer and settings into one batched call
    (batched equals unbatched under greedy decoding)."""
    entries = [(split, sp, ep, split_settings(t, split, overrides, settings)) for split, sp, ep in plan]
    if not hasattr(t, "generation_for"):
        return [[e] for e in entries]
    groups: list[list[tuple]] = []
    for e in entries:
        if groups and groups[-1][-1][1] == e[1] and groups[-1][-1][3] == e[3] and not e[3].get("do_sample"):
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def generate_task(
    model_dir: str | Path,
    task: str,
    plan: list[tuple[str, str | Path, str | Path]],
    layer: int,
    T: float,
    seed: int,
    out_path: str | Path,
    *,
    settings: dict | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    meta: dict | None = None,
    limit: int | None = None,
    prompt_format: str = "auto",
) -> int:
    """`plan`: (eval split name, steerer file, eval split file) per pair. Returns rows written."""
    from steerbench.lm import PromptFormatter, generate

    t = get_task(task)
    overrides = dict(settings or {})
    settings = generation_settings(task, settings)
    lm = load_steered_model(model_dir, device, dtype)
    fmt = PromptFormatter(lm, prompt_format)
    rows = []
    for group in _groups(t, plan, overrides, settings):
        steerer_path, split_settings_ = group[0][1], group[0][3]
        steer_layer = layer
        if is_multi(steerer_path):  # a multi-layer method: {layer: steerer}, all in one pass
            steerer, steer_layer = load_steerers(steerer_path), None
        else:
            steerer = load_steerer(str(steerer_path))
        items = [(split, item) for split, _, eval_path, _ in group
                 for item in t.prompts(read_split(eval_path, limit), fmt)]
        texts = generate(
            lm,
            [item["prompt_text"] for _, item in items],
            steerer=steerer,
            layer=steer_layer,
            T=float(T),
            batch_size=batch_size,
            seed=seed,
            **split_settings_,
        )
        for (split, item), text in zip(items, texts, strict=True):
            rows.append({**item, "split": split, "generation": text, "layer": layer, "T": float(T), "seed": seed, **(meta or {})})
    return write_jsonl(out_path, stamp_expected(rows))
