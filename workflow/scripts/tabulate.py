from steerbench.runlog import run_script
from steerbench.stages.tables import tabulate

run_script(
    snakemake,
    lambda sm: tabulate(
        sm.input.summary, sm.wildcards.task, sm.params.methods, sm.output.csv, sm.output.md, sm.output.tex,
        reference=sm.params.reference,
    ),
)
