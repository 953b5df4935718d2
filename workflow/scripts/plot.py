from steerbench.runlog import run_script
from steerbench.stages.plots import plot_task_dir

run_script(
    snakemake,
    lambda sm: plot_task_dir(
        sm.input.summary, list(sm.input.scores), sm.wildcards.task, sm.params.methods, sm.output[0],
        reference=sm.params.reference,
    ),
)
