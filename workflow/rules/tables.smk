# CPU: the paper's tables (with bootstrap CIs and paired tests vs the reference method) and plots.
# `summarise` computes a task's statistics once; the table and plot rules draw from its file.


rule summarise:
    input:
        scores=lambda w: score_files(w.task),
    output:
        SUMMARY_PATH,
    params:
        bootstrap=config["bootstrap"],
        reference=config["reference"],
    log:
        os.path.join(LOGS, "summarise/{task}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/summarise/{task}.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/summarise.py"


rule tabulate:
    input:
        summary=SUMMARY_PATH,
    output:
        csv=report(TABLE_PATH.format(name="{task}", ext="csv"), caption="../report/table.rst", category="Tables", labels={"task": "{task}", "format": "csv"}),
        md=TABLE_PATH.format(name="{task}", ext="md"),
        tex=TABLE_PATH.format(name="{task}", ext="tex"),
    params:
        methods=lambda w: methods_of(w.task),
        reference=config["reference"],
    log:
        os.path.join(LOGS, "tabulate/{task}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/tabulate/{task}.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/tabulate.py"


rule summary_table:
    input:
        summaries=[SUMMARY_PATH.format(task=task) for task in TASKS],
    output:
        csv=report(TABLE_PATH.format(name="summary", ext="csv"), caption="../report/summary.rst", category="Tables", labels={"task": "all", "format": "csv"}),
        md=TABLE_PATH.format(name="summary", ext="md"),
        tex=TABLE_PATH.format(name="summary", ext="tex"),
    params:
        methods=METHODS,
        reference=config["reference"],
        ours=ours_methods(config["methods"]),
    log:
        os.path.join(LOGS, "summary_table.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/summary_table.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/summary_table.py"


rule plot:
    input:
        summary=SUMMARY_PATH,
        scores=lambda w: score_files(w.task),
    output:
        report(
            directory(os.path.join(RESULTS, "plots/{task}")),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="Plots",
            labels={"task": "{task}", "figure": "{name}"},
        ),
    params:
        methods=lambda w: methods_of(w.task),
        reference=config["reference"],
    log:
        os.path.join(LOGS, "plot/{task}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/plot/{task}.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/plot.py"


# Strength selection on validation data: the validation rules always exist (no job asks
# for their outputs without a `select_T:` block); the choice and the tables at the chosen
# T only for configs with the block.
include: "validation.smk"


if "select_T" in config:

    include: "select.smk"
