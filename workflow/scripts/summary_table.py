from steerbench.runlog import run_script
from steerbench.stages.tables import tabulate_summary

run_script(
    snakemake,
    lambda sm: tabulate_summary(
        list(sm.input.summaries), sm.params.methods, sm.output.csv, sm.output.md, sm.output.tex,
        reference=sm.params.reference, ours=sm.params.ours,
    ),
)
