"""Stage generate: steered generation on every eval split of a task, folds joined.

One job loads the model once and runs each (fit split -> eval split) pair of the task's
plan, so TruthfulQA's two folds need one model load, not two.
"""

from __future__ import annotations

from pathlib import Path

from steerbench.integrity import stamp_expected
from steerbench.io import write_jsonl
from steerbench.stages.common import load_steered_model, read_split
from steerbench.steerers import load_steerer
from steerbench.tasks import get_task


def generation_settings(task: str, overrides: dict | None) -> dict:
    settings = dict(get_task(task).generation)
    settings.update(overrides or {})
    return settings


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
    settings = generation_settings(task, settings)
    lm = load_steered_model(model_dir, device, dtype)
    fmt = PromptFormatter(lm, prompt_format)
    rows = []
    for split, steerer_path, eval_path in plan:
        steerer = load_steerer(str(steerer_path))
        items = t.prompts(read_split(eval_path, limit), fmt)
        texts = generate(
            lm,
            [item["prompt_text"] for item in items],
            steerer=steerer,
            layer=layer,
            T=float(T),
            batch_size=batch_size,
            seed=seed,
            **settings,
        )
        for item, text in zip(items, texts, strict=True):
            rows.append({**item, "split": split, "generation": text, "layer": layer, "T": float(T), "seed": seed, **(meta or {})})
    return write_jsonl(out_path, stamp_expected(rows))
