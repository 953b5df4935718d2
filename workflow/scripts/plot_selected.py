from steerbench.runlog import run_script
from steerbench.stages.select import plot_selected

run_script(
    snakemake,
    lambda sm: plot_selected(
        list(sm.input.scores), list(sm.input.val), sm.input.selection, sm.wildcards.task, sm.params.methods,
        sm.output[0], n_boot=sm.params.bootstrap["n_boot"], seed=sm.params.bootstrap["seed"],
        reference=sm.params.reference,
    ),
)
