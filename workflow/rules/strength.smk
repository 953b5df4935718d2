# The steering-strength analysis ("Towards Understanding Steering Strength"): concept
# vectors per (model, concept), then per (steerer, layer) one job per measurement, each
# filling a per-alpha cache so that a new alpha or layer computes only what is new.
# Optional: without a `strength:` section in the config it adds no targets.

from functools import partial as _partial
from pathlib import Path as _StrengthPath

from snakemake.utils import validate as _strength_validate

import steerbench.strength.workflow as _sw

STRENGTH = config.get("strength")
if STRENGTH is not None:
    _strength_validate(STRENGTH, "../schemas/strength.schema.yaml", set_default=True)
    _sw.check_models(STRENGTH, config["models"])
    STRENGTH["steerers"] = canonical(STRENGTH["steerers"])
    for _key in ("curves", "crossent", "mmlu", "presence"):
        STRENGTH[_key] = canonical(STRENGTH[_key])
else:
    STRENGTH = dict(_sw.EMPTY)

# `rule all` takes strength_targets(): the plot folders and log-odds tables.
strength_targets = _partial(_sw.targets, STRENGTH, RESULTS)
_STRENGTH_DTYPE = lambda w: config["models"][w.model]["dtype"]
_strength_concept = lambda w: STRENGTH["concepts"][w.concept]


wildcard_constraints:
    concept="|".join(re.escape(c) for c in STRENGTH["concepts"]) or "NO_CONCEPT",
    strength_steerer="|".join(re.escape(s) for s in STRENGTH["steerers"]) or "NO_STEERER",


STRENGTH_COMMON = dict(device=config["device"], dtype=_STRENGTH_DTYPE, batch_size=STRENGTH["batch_size"])


rule strength_vectors:
    input:
        model=lambda w: model_path(w.model),
        positive=lambda w: _strength_concept(w)["positive"],
        negative=lambda w: _strength_concept(w)["negative"],
    output:
        os.path.join(RESULTS, "strength/{model}/{concept}/vectors.safetensors"),
    params:
        layers=STRENGTH["layers"],
        limit=STRENGTH["limit_prompts"],
        **STRENGTH_COMMON,
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_vectors/{model}/{concept}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_vectors/{model}/{concept}.tsv"),
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
        positive=lambda w: _strength_concept(w)["positive"],
        negative=lambda w: _strength_concept(w)["negative"],
    output:
        os.path.join(RESULTS, "strength/{model}/{concept}/logodds.csv"),
    params:
        limit=STRENGTH["limit_prompts"],
        **STRENGTH_COMMON,
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_logodds/{model}/{concept}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_logodds/{model}/{concept}.tsv"),
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_logodds.py"


rule strength_curves:
    input:
        model=lambda w: model_path(w.model),
        vectors=os.path.join(RESULTS, "strength/{model}/{concept}/vectors.safetensors"),
        contexts=lambda w: _strength_concept(w)["contexts"],
    output:
        os.path.join(RESULTS, "strength/{model}/{concept}/{strength_steerer}/L{layer}/curves.csv"),
    params:
        **_sw.measure_params(STRENGTH, "curves", config["device"], _STRENGTH_DTYPE),
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_curves/{model}/{concept}/{strength_steerer}/L{layer}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_curves/{model}/{concept}/{strength_steerer}/L{layer}.tsv"),
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
        vectors=os.path.join(RESULTS, "strength/{model}/{concept}/vectors.safetensors"),
        # A local corpus is a file input; an HF dataset id is fetched by the loader.
        heldout=lambda w: [STRENGTH["crossent"]["path"]] if _StrengthPath(STRENGTH["crossent"]["path"]).suffix else [],
    output:
        os.path.join(RESULTS, "strength/{model}/{concept}/{strength_steerer}/L{layer}/crossent.csv"),
    params:
        **_sw.measure_params(STRENGTH, "crossent", config["device"], _STRENGTH_DTYPE),
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_crossent/{model}/{concept}/{strength_steerer}/L{layer}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_crossent/{model}/{concept}/{strength_steerer}/L{layer}.tsv"),
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
        vectors=os.path.join(RESULTS, "strength/{model}/{concept}/vectors.safetensors"),
    output:
        os.path.join(RESULTS, "strength/{model}/{concept}/{strength_steerer}/L{layer}/mmlu.csv"),
    params:
        **_sw.measure_params(STRENGTH, "mmlu", config["device"], _STRENGTH_DTYPE),
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_mmlu/{model}/{concept}/{strength_steerer}/L{layer}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_mmlu/{model}/{concept}/{strength_steerer}/L{layer}.tsv"),
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
        judge=lambda w: (
            model_path(w.model)
            if STRENGTH["presence"]["judge"] is None
            else model_path(STRENGTH["presence"]["judge"])
            if STRENGTH["presence"]["judge"] in config["models"]
            else STRENGTH["presence"]["judge"]
        ),
        vectors=os.path.join(RESULTS, "strength/{model}/{concept}/vectors.safetensors"),
        contexts=lambda w: _strength_concept(w)["contexts"],
    output:
        table=os.path.join(RESULTS, "strength/{model}/{concept}/{strength_steerer}/L{layer}/presence.csv"),
        fit=os.path.join(RESULTS, "strength/{model}/{concept}/{strength_steerer}/L{layer}/presence_fit.json"),
    params:
        label=lambda w: _strength_concept(w).get("label", w.concept),
        **_sw.measure_params(STRENGTH, "presence", config["device"], _STRENGTH_DTYPE),
    threads: config["threads"]
    log:
        os.path.join(LOGS, "strength_presence/{model}/{concept}/{strength_steerer}/L{layer}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_presence/{model}/{concept}/{strength_steerer}/L{layer}.tsv"),
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_presence.py"


rule strength_plots:
    input:
        curves=lambda w: _sw.layer_tables(STRENGTH, RESULTS, "curves", "curves.csv", w),
        crossent=lambda w: _sw.layer_tables(STRENGTH, RESULTS, "crossent", "crossent.csv", w),
        mmlu=lambda w: _sw.layer_tables(STRENGTH, RESULTS, "mmlu", "mmlu.csv", w),
        presence=lambda w: _sw.layer_tables(STRENGTH, RESULTS, "presence", "presence.csv", w),
        fits=lambda w: _sw.layer_tables(STRENGTH, RESULTS, "presence", "presence_fit.json", w),
    output:
        directory(os.path.join(RESULTS, "plots/strength/{model}/{concept}/{strength_steerer}")),
    log:
        os.path.join(LOGS, "strength_plots/{model}/{concept}/{strength_steerer}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/strength_plots/{model}/{concept}/{strength_steerer}.tsv"),
    conda:
        ENV
    script:
        f"{SCRIPTS}/strength_plots.py"
