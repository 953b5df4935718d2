from steerbench.runlog import run_script
from steerbench.stages.strength import strength_curves


def main(sm):
    p, o = sm.params, sm.params.options
    strength_curves(sm.input.model, sm.input.vectors, sm.input.contexts, int(sm.wildcards.layer), p.steerer, p.alphas, p.cache, sm.output[0],
                keep=o["keep"], top=o["top"], batch_size=p.batch_size, seed=p.seed, device=p.device, dtype=p.dtype)


run_script(snakemake, main)
