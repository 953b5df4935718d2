from steerbench.runlog import run_script
from steerbench.stages.select import select_T

run_script(
    snakemake,
    lambda sm: select_T(
        list(sm.input.val), list(sm.input.test), sm.wildcards.task, sm.output[0], sm.params.select,
        metric=sm.params.metric, reference=sm.params.reference, **sm.params.bootstrap,
    ),
)
