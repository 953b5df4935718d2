from steerbench.runlog import run_script
from steerbench.stages.tables import tabulate

run_script(
    snakemake,
    lambda sm: tabulate(
        list(sm.input.scores), sm.wildcards.task, sm.params.methods,
        sm.output.csv, sm.output.md, sm.output.tex, **sm.params.bootstrap, reference=sm.params.reference,
    ),
)
