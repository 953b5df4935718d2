from steerbench.runlog import run_script
from steerbench.stages.select import select_T

run_script(
    snakemake,
    lambda sm: select_T(
        list(sm.input.val), sm.input.test_summary, sm.wildcards.task, sm.output[0], sm.params.select,
        metric=sm.params.metric, reference=sm.params.reference, **sm.params.bootstrap,
    ),
)
