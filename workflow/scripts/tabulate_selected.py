from steerbench.runlog import run_script
from steerbench.stages.select import tabulate_selected

run_script(
    snakemake,
    lambda sm: tabulate_selected(
        list(sm.input.scores), sm.input.selection, sm.wildcards.task, sm.params.methods,
        sm.output.csv, sm.output.md, sm.output.tex, **sm.params.bootstrap, reference=sm.params.reference,
    ),
)
