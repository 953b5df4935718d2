from steerbench.runlog import run_script
from steerbench.stages.select import tabulate_selected

run_script(
    snakemake,
    lambda sm: tabulate_selected(
        sm.input.summary, sm.input.selection, sm.wildcards.task, sm.params.methods,
        sm.output.csv, sm.output.md, sm.output.tex, reference=sm.params.reference,
    ),
)
