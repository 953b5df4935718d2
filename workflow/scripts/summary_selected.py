from steerbench.runlog import run_script
from steerbench.stages.select import summary_selected

run_script(
    snakemake,
    lambda sm: summary_selected(
        list(sm.input.summaries), list(sm.input.selection), sm.params.methods, sm.output.csv, sm.output.md,
        sm.output.tex, reference=sm.params.reference, ours=sm.params.ours,
    ),
)
