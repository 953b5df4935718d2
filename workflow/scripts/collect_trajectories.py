from steerbench.runlog import run_script
from steerbench.stages.fit_data import collect_trajectories

run_script(
    snakemake,
    lambda sm: collect_trajectories(
        sm.input.model, sm.wildcards.task, sm.input.data, int(sm.wildcards.layer), sm.output[0],
        reward=sm.params.reward,
        reward_model=sm.input.reward[0] if sm.input.reward else sm.params.similarity_model,
        n_samples=sm.params.n_samples, settings=sm.params.settings, seed=sm.params.seed,
        device=sm.params.device, dtype=sm.params.dtype, batch_size=sm.params.batch_size, limit=sm.params.limit,
        prompt_format=sm.params.prompt_format,
    ),
)
