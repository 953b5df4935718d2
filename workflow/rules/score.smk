# Scoring: one rule score_<scorer> per registered scorer (steerbench.scoring.registry),
# one score file per generation run. The spec gives the rule's inputs, resources and
# settings; workflow/scripts/score.py runs it.

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
            f"{LOGS}/score_{_spec.name}/{RUN}.log",
        benchmark:
            f"{LOGS}/benchmarks/score_{_spec.name}/{RUN}.tsv"
        resources:
            **score_rule_resources(_spec),
        conda:
            ENV
        script:
            f"{SCRIPTS}/score.py"


rule train_toxicity_classifier:
    input:
        data=os.path.join(RESULTS, "datasets/toxicity/raw"),
    output:
        weights=os.path.join(RESULTS, "scorers/toxicity_open/classifier.safetensors"),
        meta=os.path.join(RESULTS, "scorers/toxicity_open/classifier.json"),
    log:
        os.path.join(LOGS, "train_toxicity_classifier.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/train_toxicity_classifier.tsv")
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/train_toxicity_classifier.py"
