from steerbench.runlog import run_script
from steerbench.stages.strength import strength_plots


def main(sm):
    w = sm.wildcards
    strength_plots(sm.output[0], curves=sm.input.curves, crossent=sm.input.crossent, mmlu=sm.input.mmlu, presence=sm.input.presence,
                   fits=sm.input.fits, title=f"{w.model} / {w.concept} / {w.strength_steerer}")


run_script(snakemake, main)
