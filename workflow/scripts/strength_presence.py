from steerbench.runlog import run_script
from steerbench.stages.strength import strength_presence


def main(sm):
    p = sm.params
    strength_presence(sm.input.model, sm.input.judge, sm.input.vectors, sm.input.contexts, p.label, int(sm.wildcards.layer),
                      p.steerer, p.alphas, p.cache, sm.output.table, sm.output.fit, max_new_tokens=p.options["max_new_tokens"],
                      batch_size=p.batch_size, seed=p.seed, device=p.device, dtype=p.dtype)


run_script(snakemake, main)
