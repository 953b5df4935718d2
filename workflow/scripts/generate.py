from steerbench.runlog import run_script
from steerbench.stages.generate import generate_task


def main(sm):
    w = sm.wildcards
    generate_task(
        sm.input.model, w.task, list(zip(sm.params.splits, sm.input.steerers, sm.input.data)),
        int(w.layer), float(w.T), int(w.seed), sm.output[0],
        settings=sm.params.settings, device=sm.params.device, dtype=sm.params.dtype,
        batch_size=sm.params.batch_size, limit=sm.params.limit, prompt_format=sm.params.prompt_format,
        meta={"model": w.model, "task": w.task, "method": w.method},
    )


run_script(snakemake, main)
