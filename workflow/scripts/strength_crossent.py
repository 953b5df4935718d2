from steerbench.runlog import run_script
from steerbench.stages.strength import strength_crossent


def main(sm):
    p, o = sm.params, sm.params.options
    strength_crossent(sm.input.model, sm.input.vectors, o["path"], int(sm.wildcards.layer), p.steerer, p.alphas, p.cache, sm.output[0],
                seq_len=o["seq_len"], stride=o["stride"], max_windows=o["max_windows"], batch_size=p.batch_size, seed=p.seed, device=p.device, dtype=p.dtype)


run_script(snakemake, main)
