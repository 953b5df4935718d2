from steerbench.runlog import run_script
from steerbench.stages.plots import plot_task_dir

run_script(
    snakemake,
    lambda sm: plot_task_dir(
        list(sm.input.scores), sm.wildcards.task, sm.params.methods, sm.output[0],
        n_boot=sm.params.bootstrap["n_boot"], seed=sm.params.bootstrap["seed"], reference=sm.params.reference,
    ),
)
