# CPU: the paper's tables (with bootstrap CIs and paired tests vs the reference method) and plots.


rule tabulate:
    input:
        scores=lambda w: score_files(w.task),
    output:
        csv=report("results/tables/{task}.csv", caption="../report/table.rst", category="Tables", labels={"task": "{task}", "format": "csv"}),
        md="results/tables/{task}.md",
        tex="results/tables/{task}.tex",
    params:
        methods=lambda w: methods_of(w.task),
        bootstrap=config["bootstrap"],
        reference=config["reference"],
    log:
        "logs/tabulate/{task}.log",
    benchmark:
        "logs/benchmarks/tabulate/{task}.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/tabulate.py"


rule summary_table:
    input:
        scores=[f for task in TASKS for f in score_files(task)],
    output:
        csv=report("results/tables/summary.csv", caption="../report/summary.rst", category="Tables", labels={"task": "all", "format": "csv"}),
        md="results/tables/summary.md",
        tex="results/tables/summary.tex",
    params:
        methods=METHODS,
        bootstrap=config["bootstrap"],
        reference=config["reference"],
        ours=ours_methods(config["methods"]),
    log:
        "logs/summary_table.log",
    benchmark:
        "logs/benchmarks/summary_table.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/summary_table.py"


rule plot:
    input:
        scores=lambda w: score_files(w.task),
    output:
        report(
            directory("results/plots/{task}"),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="Plots",
            labels={"task": "{task}", "figure": "{name}"},
        ),
    params:
        methods=lambda w: methods_of(w.task),
        bootstrap=config["bootstrap"],
        reference=config["reference"],
    log:
        "logs/plot/{task}.log",
    benchmark:
        "logs/benchmarks/plot/{task}.tsv"
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
