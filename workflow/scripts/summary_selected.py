from steerbench.runlog import run_script
from steerbench.stages.select import summary_selected

run_script(
    snakemake,
    lambda sm: summary_selected(
        list(sm.input.scores), list(sm.input.selection), sm.params.methods, sm.output.csv, sm.output.md,
        sm.output.tex, **sm.params.bootstrap, reference=sm.params.reference, ours=sm.params.ours,
    ),
)
