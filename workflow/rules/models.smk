# Model weights: hub models are fetched once on the login node (compute nodes often have
# no internet); the demo's GGUF model is de-quantised once into a normal HF folder.

from steerbench.config_checks import hub_models

HUB_MODELS = hub_models(config)

localrules:
    download_model,


rule download_model:
    output:
        directory("resources/models/hub/{slug}"),
    params:
        repo_id=lambda w: HUB_MODELS[w.slug]["repo_id"],
        revision=lambda w: HUB_MODELS[w.slug]["revision"],
    log:
        "logs/download_model/{slug}.log",
    benchmark:
        "logs/benchmarks/download_model/{slug}.tsv"
    resources:
        mem_mb=4000,
        runtime=240,
    wildcard_constraints:
        slug="|".join(re.escape(s) for s in HUB_MODELS) or "NO_HUB_MODEL",
    conda:
        ENV
    script:
        f"{SCRIPTS}/download_model.py"


rule convert_model:
    output:
        directory("resources/models/gguf/{model}"),
    params:
        package=lambda w: config["models"][w.model]["gguf_package"],
    log:
        "logs/convert_model/{model}.log",
    benchmark:
        "logs/benchmarks/convert_model/{model}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/convert_model.py"
