from steerbench.runlog import run_script
from steerbench.stages.fit import fit_steerer

run_script(
    snakemake,
    lambda sm: fit_steerer(sm.input.acts, sm.params.steerer, sm.params.hyper, sm.params.seed, sm.output.tensors,
                           extra_paths=list(sm.input.extras)),
)
