# Scoring: one rule score_<scorer> per registered scorer (steerbench.scoring.registry),
# one score file per generation run. The spec gives the rule's inputs, resources and
# settings; workflow/scripts/score.py runs it.


def score_rule_inputs(spec):
    """The input functions of a scorer's rule, named as stages.score.job_from_snakemake reads them."""
    inputs = {}
    if "generations" in spec.inputs:
        inputs["generations"] = GENERATIONS
    if "eval_splits" in spec.inputs:
        inputs["data"] = eval_split_files
    if "steered_model" in spec.inputs:
        inputs["model"] = lambda w: model_path(w.model)
    if "steerers" in spec.inputs:
        inputs["steerers"] = lambda w: [steerer_file(w, fit) for fit, _ in eval_plan(w.task)]
    for key in spec.model_keys:
        inputs[f"model_{key}"] = scorer_model_file(spec, key)
    return inputs


def score_rule_params(spec):
    params = {"scorer": spec.name, "cfg": scorer_cfg(spec.name), "model_keys": list(spec.model_keys),
              "min_coverage": config["min_coverage"]}
    if spec.rate_limit is None:
        params["device"] = config["device"]
    if "steered_model" in spec.inputs:
        params["dtype"] = lambda w: config["models"][w.model]["dtype"]
        params["prompt_format"] = lambda w: config["models"][w.model]["prompt_format"]
        params["limit"] = lambda w: config["tasks"][w.task]["max_eval"]
    return params


def score_rule_resources(spec):
    resources = dict(spec.resources)
    if spec.rate_limit is not None:
        resources[spec.rate_limit] = 1
    return resources


for _spec in SCORERS.values():

    rule:
        name:
            f"score_{_spec.name}"
        input:
            **score_rule_inputs(_spec),
        output:
            SCORE_PATH.format(scorer=_spec.name),
        params:
            **score_rule_params(_spec),
        threads: 1 if _spec.rate_limit else config["threads"]
        log:
            f"logs/score_{_spec.name}/{RUN}.log",
        benchmark:
            f"logs/benchmarks/score_{_spec.name}/{RUN}.tsv"
        resources:
            **score_rule_resources(_spec),
        conda:
            ENV
        script:
            f"{SCRIPTS}/score.py"


rule train_toxicity_classifier:
    input:
        data="resources/datasets/toxicity/raw",
    output:
        weights="resources/scorers/toxicity_open/classifier.safetensors",
        meta="resources/scorers/toxicity_open/classifier.json",
    log:
        "logs/train_toxicity_classifier.log",
    benchmark:
        "logs/benchmarks/train_toxicity_classifier.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/train_toxicity_classifier.py"
