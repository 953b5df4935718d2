# GPU: steered generation, every fold of the task's plan in one job.


rule generate:
    input:
        model=lambda w: model_path(w.model),
        steerers=lambda w: [steerer_file(w, fit) for fit, _ in eval_plan(w.task)],
        data=lambda w: [split_file(w.task, ev) for _, ev in eval_plan(w.task)],
    output:
        os.path.join(RESULTS, "generations/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.jsonl"),
    params:
        splits=lambda w: [ev for _, ev in eval_plan(w.task)],
        settings=lambda w: config["tasks"][w.task]["generation"],
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_eval"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "generate/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/generate/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.tsv")
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/generate.py"
