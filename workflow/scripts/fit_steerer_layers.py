from steerbench.runlog import run_script
from steerbench.stages.multilayer import fit_steerer_layers

run_script(
    snakemake,
    lambda sm: fit_steerer_layers(sm.input.acts, sm.params.steerer, sm.params.hyper, sm.params.layers,
                                  sm.params.seed, sm.output[0]),
)
