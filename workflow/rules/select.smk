# Strength selection (opt-in: a `select_T:` config block; docs/selection.md). Every
# (method, T) is also generated and scored on each task's validation split (the rules of
# validation.smk, under results/validation/), T is chosen per method on those scores by the stated rule
# (results/tables/<task>.select_T.csv), and the tables, summary and plots report test
# scores at the chosen T. The *_selected rules take the place of tabulate, summary_table
# and plot (ruleorder); without the block this file is not included and nothing changes.

from steerbench.select_checks import check_select_config, selection_metric
from steerbench.tasks.validation import derived_splits

check_select_config(config)
SELECT = canonical(config["select_T"])

ruleorder: tabulate_selected > tabulate
ruleorder: summary_table_selected > summary_table
ruleorder: plot_selected > plot


# Validation splits that a task's format step does not write (TruthfulQA's held-apart
# questions per fold, RTP prompts held apart from the test prompts).
for _task in TASKS:
    if not derived_splits(_task):
        continue

    rule:
        name:
            f"validation_split_{_task}"
        input:
            splits=[split_file(_task, s) for s in task_of(_task).splits],
            raw=f"{RESULTS}/datasets/{_task}/raw",
            ppl=[PROMPT_PPL] if config["tasks"][_task]["ppl_model"] is not None else [],
        output:
            [split_file(_task, s) for s in derived_splits(_task)],
        params:
            task=_task,
            seed=config["seed"],
            n_val=SELECT["n_val"],
            options=config["tasks"][_task]["params"],
        log:
            f"{LOGS}/validation_split_{_task}.log",
        benchmark:
            f"{LOGS}/benchmarks/validation_split_{_task}.tsv"
        resources:
            mem_mb=4000,
            runtime=10,
        conda:
            ENV
        script:
            f"{SCRIPTS}/validation_split.py"


rule select_T:
    input:
        val=lambda w: val_score_files(w.task),
        test_summary=SUMMARY_PATH,
    output:
        os.path.join(RESULTS, "tables/{task}.select_T.csv"),
    params:
        select=SELECT,
        metric=lambda w: selection_metric(config, w.task),
        bootstrap=config["bootstrap"],
        reference=config["reference"],
    log:
        os.path.join(LOGS, "select_T/{task}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/select_T/{task}.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        ENV
    script:
        f"{SCRIPTS}/select_T.py"


rule tabulate_selected:
    input:
        summary=SUMMARY_PATH,
        selection=lambda w: selection_file(w.task),
    output:
        csv=report(os.path.join(RESULTS, "tables/{task}.csv"), caption="../report/table.rst", category="Tables", labels={"task": "{task}", "format": "csv"}),
        md=os.path.join(RESULTS, "tables/{task}.md"),
        tex=os.path.join(RESULTS, "tables/{task}.tex"),
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
        f"{SCRIPTS}/tabulate_selected.py"


rule summary_table_selected:
    input:
        summaries=[SUMMARY_PATH.format(task=task) for task in TASKS],
        selection=[selection_file(task) for task in TASKS],
    output:
        csv=report(os.path.join(RESULTS, "tables/summary.csv"), caption="../report/summary.rst", category="Tables", labels={"task": "all", "format": "csv"}),
        md=os.path.join(RESULTS, "tables/summary.md"),
        tex=os.path.join(RESULTS, "tables/summary.tex"),
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
        f"{SCRIPTS}/summary_selected.py"


rule plot_selected:
    input:
        scores=lambda w: score_files(w.task),
        val=lambda w: val_score_files(w.task),
        selection=lambda w: selection_file(w.task),
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
        bootstrap=config["bootstrap"],
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
        f"{SCRIPTS}/plot_selected.py"
