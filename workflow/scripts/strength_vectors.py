from steerbench.runlog import run_script
from steerbench.stages.strength import strength_vectors

run_script(
    snakemake,
    lambda sm: strength_vectors(sm.input.model, sm.input.positive, sm.input.negative, sm.params.layers, sm.output[0],
                                limit=sm.params.limit, batch_size=sm.params.batch_size, device=sm.params.device, dtype=sm.params.dtype),
)
