from steerbench.runlog import run_script
from steerbench.stages.prompt_ppl import prompt_perplexities

run_script(
    snakemake,
    lambda sm: prompt_perplexities(
        sm.input.raw + "/rtp/prompts.jsonl", sm.input.model, sm.output[0], device=sm.params.device,
        batch_size=sm.params.batch_size,
    ),
)
