from pathlib import Path

from steerbench.runlog import run_script
from steerbench.tasks import get_task

run_script(
    snakemake,
    lambda sm: get_task(sm.params.task).format(
        sm.input.raw, Path(sm.output[0]).parent, seed=sm.params.seed, **sm.params.options,
        **({"ppl_path": sm.input.ppl[0]} if sm.input.ppl else {}),
    ),
)
