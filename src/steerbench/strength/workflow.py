"""Pure helpers of workflow/rules/strength.smk (Snakemake's lint wants no functions beside rules)."""

from __future__ import annotations

EMPTY = {"models": [], "concepts": {}, "steerers": {}, "layers": [], "measurements": [], "batch_size": 1}
PER_LAYER = ("curves", "crossent", "mmlu", "presence")


def check_models(strength: dict, models: dict) -> None:
    for m in strength["models"]:
        if m not in models:
            raise ValueError(f"strength.models: {m!r} is not a key of models: ({', '.join(models)}); add it there or drop it")


def targets(strength: dict, root: str) -> list[str]:
    """The plot folders and log-odds tables of every (model, concept, steerer), under the run's results root."""
    out = []
    per_layer = [m for m in strength["measurements"] if m in PER_LAYER]
    for m in strength["models"]:
        for c in strength["concepts"]:
            if "logodds" in strength["measurements"]:
                out.append(f"{root}/strength/{m}/{c}/logodds.csv")
            if per_layer:
                out += [f"{root}/plots/strength/{m}/{c}/{s}" for s in strength["steerers"]]
    return out


def cache_path(strength: dict, measurement: str, w) -> str:
    return f"{strength['cache_dir']}/{measurement}/{w.model}/{w.concept}/L{w.layer}/{w.strength_steerer}.pt"


def layer_tables(strength: dict, root: str, measurement: str, name: str, w) -> list[str]:
    """The per-layer tables a plot job reads (none when the measurement is switched off)."""
    if measurement not in strength["measurements"]:
        return []
    return [f"{root}/strength/{w.model}/{w.concept}/{w.strength_steerer}/L{layer}/{name}" for layer in strength["layers"]]


def measure_params(strength: dict, measurement: str, device: str, dtype_of) -> dict:
    from steerbench.strength.grid import grid_from_config

    return dict(
        steerer=lambda w: strength["steerers"][w.strength_steerer],
        alphas=grid_from_config(strength["alphas"]),
        cache=lambda w: cache_path(strength, measurement, w),
        options=strength.get(measurement, {}),
        seed=strength["seed"],
        device=device,
        dtype=dtype_of,
        batch_size=strength["batch_size"],
    )
