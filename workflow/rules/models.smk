# Model weights: hub models are fetched once on the login node (compute nodes often have
# no internet); the demo's GGUF model is de-quantised once into a normal HF folder.

from steerbench.config_checks import hub_models

HUB_MODELS = hub_models(config)
GGUF_PACKAGES = sorted({spec["gguf_package"] for spec in config["models"].values() if spec.get("gguf_package")})

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
        directory("resources/models/gguf/{package}"),
    params:
        package=lambda w: w.package,
    log:
        "logs/convert_model/{package}.log",
    benchmark:
        "logs/benchmarks/convert_model/{package}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    wildcard_constraints:
        package="|".join(re.escape(p) for p in GGUF_PACKAGES) or "NO_GGUF_PACKAGE",
    conda:
        ENV
    script:
        f"{SCRIPTS}/convert_model.py"
