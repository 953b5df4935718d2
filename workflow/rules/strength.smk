# The steering-strength analysis ("Towards Understanding Steering Strength"): concept
# vectors per (model, concept), then per (steerer, layer) one job per measurement, each
# filling a per-alpha cache so that a new alpha or layer computes only what is new.
# Optional: without a `strength:` section in the config it adds no targets.

from pathlib import Path as _StrengthPath

from snakemake.utils import validate as _strength_validate

STRENGTH = config.get("strength")
if STRENGTH is not None:
    _strength_validate(STRENGTH, "../schemas/strength.schema.yaml", set_default=True)
    for _m in STRENGTH["models"]:
        if _m not in config["models"]:
            raise ValueError(f"strength.models: {_m!r} is not a key of models: ({', '.join(config['models'])})")
    STRENGTH["steerers"] = canonical(STRENGTH["steerers"])
else:
    STRENGTH = {"models": [], "concepts": {}, "steerers": {}, "layers": [], "measurements": []}

STRENGTH_PER_LAYER = [m for m in STRENGTH["measurements"] if m != "logodds"]


wildcard_constraints:
    concept="|".join(re.escape(c) for c in STRENGTH["concepts"]) or "NO_CONCEPT",
    strength_steerer="|".join(re.escape(s) for s in STRENGTH["steerers"]) or "NO_STEERER",


def strength_alphas():
    from steerbench.strength.grid import grid_from_config

    return grid_from_config(STRENGTH["alphas"])


def strength_concept(w):
    return STRENGTH["concepts"][w.concept]


def strength_judge(w):
    judge = STRENGTH["presence"]["judge"]
    if judge is None:
        return model_path(w.model)
    return model_path(judge) if judge in config["models"] else judge


def strength_cache(measurement):
    return lambda w: f"{STRENGTH['cache_dir']}/{measurement}/{w.model}/{w.concept}/L{w.layer}/{w.strength_steerer}.pt"


def strength_targets():
    """The plot folders and log-odds tables of every (model, concept, steerer)."""
    out = []
    for m in STRENGTH["models"]:
        for c in STRENGTH["concepts"]:
            if "logodds" in STRENGTH["measurements"]:
                out.append(f"results/strength/{m}/{c}/logodds.csv")
            if STRENGTH_PER_LAYER:
                out += [f"results/plots/strength/{m}/{c}/{s}" for s in STRENGTH["steerers"]]
    return out


STRENGTH_COMMON = dict(
    device=config["device"],
    dtype=lambda w: config["models"][w.model]["dtype"],
    batch_size=STRENGTH["batch_size"],
)


rule strength_vectors:
    input:
        model=lambda w: model_path(w.model),
        positive=lambda w: strength_concept(w)["positive"],
        negative=lambda w: strength_concept(w)["negative"],
    output:
        "results/strength/{model}/{concept}/vectors.safetensors",
    params:
        layers=STRENGTH["layers"],
        limit=STRENGTH["limit_prompts"],
        **STRENGTH_COMMON,
    threads: config["threads"]
    log:
        "logs/strength_vectors/{model}/{concept}.log",
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_vectors.py"


rule strength_logodds:
    input:
        model=lambda w: model_path(w.model),
        positive=lambda w: strength_concept(w)["positive"],
        negative=lambda w: strength_concept(w)["negative"],
    output:
        "results/strength/{model}/{concept}/logodds.csv",
    params:
        limit=STRENGTH["limit_prompts"],
        **STRENGTH_COMMON,
    threads: config["threads"]
    log:
        "logs/strength_logodds/{model}/{concept}.log",
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_logodds.py"


def _strength_measure_params(measurement):
    return dict(
        steerer=lambda w: STRENGTH["steerers"][w.strength_steerer],
        alphas=strength_alphas(),
        cache=strength_cache(measurement),
        options=canonical(STRENGTH.get(measurement, {})),
        seed=STRENGTH["seed"],
        **STRENGTH_COMMON,
    )


rule strength_curves:
    input:
        model=lambda w: model_path(w.model),
        vectors="results/strength/{model}/{concept}/vectors.safetensors",
        contexts=lambda w: strength_concept(w)["contexts"],
    output:
        "results/strength/{model}/{concept}/{strength_steerer}/L{layer}/curves.csv",
    params:
        **_strength_measure_params("curves"),
    threads: config["threads"]
    log:
        "logs/strength_curves/{model}/{concept}/{strength_steerer}/L{layer}.log",
    resources:
        mem_mb=24000,
        runtime=120,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_curves.py"


rule strength_crossent:
    input:
        model=lambda w: model_path(w.model),
        vectors="results/strength/{model}/{concept}/vectors.safetensors",
        # A local corpus is a file input; an HF dataset id is fetched by the loader.
        heldout=lambda w: [STRENGTH["crossent"]["path"]] if _StrengthPath(STRENGTH["crossent"]["path"]).suffix else [],
    output:
        "results/strength/{model}/{concept}/{strength_steerer}/L{layer}/crossent.csv",
    params:
        **_strength_measure_params("crossent"),
    threads: config["threads"]
    log:
        "logs/strength_crossent/{model}/{concept}/{strength_steerer}/L{layer}.log",
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_crossent.py"


rule strength_mmlu:
    input:
        model=lambda w: model_path(w.model),
        vectors="results/strength/{model}/{concept}/vectors.safetensors",
    output:
        "results/strength/{model}/{concept}/{strength_steerer}/L{layer}/mmlu.csv",
    params:
        **_strength_measure_params("mmlu"),
    threads: config["threads"]
    log:
        "logs/strength_mmlu/{model}/{concept}/{strength_steerer}/L{layer}.log",
    resources:
        mem_mb=24000,
        runtime=480,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_mmlu.py"


rule strength_presence:
    input:
        model=lambda w: model_path(w.model),
        judge=strength_judge,
        vectors="results/strength/{model}/{concept}/vectors.safetensors",
        contexts=lambda w: strength_concept(w)["contexts"],
    output:
        table="results/strength/{model}/{concept}/{strength_steerer}/L{layer}/presence.csv",
        fit="results/strength/{model}/{concept}/{strength_steerer}/L{layer}/presence_fit.json",
    params:
        label=lambda w: strength_concept(w).get("label", w.concept),
        **_strength_measure_params("presence"),
    threads: config["threads"]
    log:
        "logs/strength_presence/{model}/{concept}/{strength_steerer}/L{layer}.log",
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_presence.py"


def _strength_tables(measurement, name=None):
    name = name or measurement
    return lambda w: (
        expand(f"results/strength/{w.model}/{w.concept}/{w.strength_steerer}/L{{layer}}/{name}", layer=STRENGTH["layers"])
        if measurement in STRENGTH["measurements"]
        else []
    )


rule strength_plots:
    input:
        curves=_strength_tables("curves", "curves.csv"),
        crossent=_strength_tables("crossent", "crossent.csv"),
        mmlu=_strength_tables("mmlu", "mmlu.csv"),
        presence=_strength_tables("presence", "presence.csv"),
        fits=_strength_tables("presence", "presence_fit.json"),
    output:
        directory("results/plots/strength/{model}/{concept}/{strength_steerer}"),
    log:
        "logs/strength_plots/{model}/{concept}/{strength_steerer}.log",
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_plots.py"
