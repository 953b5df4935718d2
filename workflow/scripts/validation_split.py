from pathlib import Path

from steerbench.runlog import run_script
from steerbench.tasks.validation import write_validation_splits

run_script(
    snakemake,
    lambda sm: write_validation_splits(
        sm.params.task, Path(sm.output[0]).parent, sm.params.seed, sm.params.n_val, raw_dir=sm.input.raw,
        **sm.params.options, **({"ppl_path": sm.input.ppl[0]} if sm.input.ppl else {}),
    ),
)
