from steerbench.runlog import run_script
from steerbench.stages.tables import tabulate_summary

run_script(
    snakemake,
    lambda sm: tabulate_summary(
        list(sm.input.scores), sm.params.methods, sm.output.csv, sm.output.md, sm.output.tex, **sm.params.bootstrap,
        reference=sm.params.reference, ours=sm.params.ours,
    ),
)
