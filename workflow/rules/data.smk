# Datasets: download (hub, Kaggle, or a local file in the canonical format), then
# normalise into seeded split files. Downloads need the internet: they run on the
# login node under SLURM.


for _task in TASKS:

    rule:
        name:
            f"download_{_task}"
        input:
            local_source_files(dataset_source(_task)),
        output:
            directory(f"{RESULTS}/datasets/{_task}/raw"),
        params:
            task=_task,
            source=dataset_source(_task),
        log:
            f"{LOGS}/download_{_task}.log",
        benchmark:
            f"{LOGS}/benchmarks/download_{_task}.tsv"
        resources:
            mem_mb=8000,
            runtime=120,
        localrule: True
        conda:
            ENV
        script:
            f"{SCRIPTS}/download_dataset.py"

    rule:
        name:
            f"format_{_task}"
        input:
            raw=f"{RESULTS}/datasets/{_task}/raw",
            # Prompt perplexities for the official RealToxicityPrompts selection (rtp_filter.smk).
            ppl=[PROMPT_PPL] if config["tasks"][_task]["ppl_model"] is not None else [],
        output:
            [split_file(_task, split) for split in task_of(_task).splits],
        params:
            task=_task,
            seed=config["seed"],
            options=config["tasks"][_task]["params"],
        log:
            f"{LOGS}/format_{_task}.log",
        benchmark:
            f"{LOGS}/benchmarks/format_{_task}.tsv"
        resources:
            mem_mb=8000,
            runtime=30,
        conda:
            ENV
        script:
            f"{SCRIPTS}/format_dataset.py"
