# GPU: fit data beyond pos/neg activations, for the learned steerers (HPR, RE-Control,
# TruthFlow; steerbench.stages.fit_data). Each file sits beside the split's activations;
# fit_steerer takes it as an input when the method's steerer `requires` its tensors
# (see learned_extra_files below).


rule extract_fit_extras:
    input:
        model=lambda w: model_path(w.model),
        data=lambda w: split_file(w.task, w.split),
    output:
        os.path.join(RESULTS, "activations/{model}/{task}/L{layer}/{split}.extra.safetensors"),
    params:
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_fit"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "extract_fit_extras/{model}/{task}/L{layer}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/extract_fit_extras/{model}/{task}/L{layer}/{split}.tsv")
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/extract_fit_extras.py"


rule collect_trajectories:
    input:
        model=lambda w: model_path(w.model),
        data=lambda w: split_file(w.task, w.split),
        reward=lambda w: [scorer_model_file(SCORERS["reward"], "model")(w)] if trajectory_cfg()["reward"] == "model" else [],
    output:
        os.path.join(RESULTS, "activations/{model}/{task}/L{layer}/{split}.traj.safetensors"),
    params:
        reward=lambda w: trajectory_cfg()["reward"],
        similarity_model=lambda w: scorer_cfg("similarity").get("model"),
        n_samples=lambda w: trajectory_cfg()["n_samples"],
        settings=lambda w: {**config["tasks"][w.task]["generation"], **trajectory_cfg()["generation"]},
        seed=config["seed"],
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_fit"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "collect_trajectories/{model}/{task}/L{layer}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/collect_trajectories/{model}/{task}/L{layer}/{split}.tsv")
    resources:
        mem_mb=24000,
        runtime=240,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/collect_trajectories.py"
