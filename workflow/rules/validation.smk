# Generation and scoring on the validation splits (strength selection, select.smk and
# docs/selection.md): the rules exist for every config, as generate and score_<scorer> do
# for the test splits, but only a `select_T:` block asks for their outputs, under
# results/validation/ in the same layout as the test files.


rule generate_val:
    input:
        model=lambda w: model_path(w.model),
        steerers=val_steerer_files,
        data=val_split_files,
    output:
        VAL_GENERATIONS,
    params:
        splits=lambda w: [ev for _, ev in validation_plan(w.task)],
        settings=lambda w: config["tasks"][w.task]["generation"],
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_eval"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "generate_val/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/generate_val/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.tsv")
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/generate.py"


for _spec in SCORERS.values():

    rule:
        name:
            f"score_{_spec.name}_val"
        input:
            **val_score_rule_inputs(_spec),
        output:
            VAL_SCORE_PATH.format(scorer=_spec.name),
        params:
            **score_rule_params(_spec),
        threads: 1 if _spec.rate_limit else config["threads"]
        log:
            f"{LOGS}/score_{_spec.name}_val/{RUN}.log",
        benchmark:
            f"{LOGS}/benchmarks/score_{_spec.name}_val/{RUN}.tsv"
        resources:
            **score_rule_resources(_spec),
        conda:
            ENV
        script:
            f"{SCRIPTS}/score.py"
