from steerbench.runlog import run_script
from steerbench.stages.fit_data import extract_fit_extras

run_script(
    snakemake,
    lambda sm: extract_fit_extras(
        sm.input.model, sm.wildcards.task, sm.input.data, int(sm.wildcards.layer), sm.output[0],
        device=sm.params.device, dtype=sm.params.dtype, batch_size=sm.params.batch_size, limit=sm.params.limit,
        prompt_format=sm.params.prompt_format,
    ),
)
