from steerbench.runlog import run_script
from steerbench.stages.multilayer import extract_split_layers

run_script(
    snakemake,
    lambda sm: extract_split_layers(
        sm.input.model, sm.wildcards.task, sm.input.data, sm.params.layers, sm.output[0],
        device=sm.params.device, dtype=sm.params.dtype, batch_size=sm.params.batch_size, limit=sm.params.limit,
        prompt_format=sm.params.prompt_format,
    ),
)
