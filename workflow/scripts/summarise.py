from steerbench.runlog import run_script
from steerbench.stages.tables import summarise_task

run_script(
    snakemake,
    lambda sm: summarise_task(
        list(sm.input.scores), sm.wildcards.task, sm.output[0], **sm.params.bootstrap, reference=sm.params.reference,
    ),
)
