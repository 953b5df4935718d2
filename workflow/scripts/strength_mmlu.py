from steerbench.runlog import run_script
from steerbench.stages.strength import strength_mmlu


def main(sm):
    p, o = sm.params, sm.params.options
    strength_mmlu(sm.input.model, sm.input.vectors, o["path"], int(sm.wildcards.layer), p.steerer, p.alphas, p.cache, sm.output[0],
                subjects=o["subjects"], split=o["split"], limit=o["limit"], n_shots=o["n_shots"], scoring=o["scoring"], chat=o["chat"], batch_size=p.batch_size, seed=p.seed, device=p.device, dtype=p.dtype)


run_script(snakemake, main)
