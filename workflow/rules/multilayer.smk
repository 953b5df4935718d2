# Multi-layer methods (methods.<id>.layers): one extraction pass over the method's layers
# (GPU), then one steerer per layer fitted into one folder (CPU). generate and the score
# rules find the folder through steerer_file (common.smk).


rule extract_activations_layers:
    input:
        model=lambda w: model_path(w.model),
        data=lambda w: split_file(w.task, w.split),
    output:
        os.path.join(RESULTS, "activations/{model}/{task}/layers{layerset}/{split}.safetensors"),
    wildcard_constraints:
        layerset=r"\d+(?:_\d+)*",
    params:
        layers=lambda w: [int(x) for x in w.layerset.split("_")],
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_fit"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "extract_activations_layers/{model}/{task}/layers{layerset}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/extract_activations_layers/{model}/{task}/layers{layerset}/{split}.tsv")
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/extract_activations_layers.py"


rule fit_steerer_layers:
    input:
        acts=lambda w: f"{RESULTS}/activations/{w.model}/{w.task}/layers{'_'.join(map(str, method_layers(w.method)))}/{w.split}.safetensors",
        code=lambda w: [str(p) for p in steerer_source_files(method_spec(w.method)["steerer"])],
    output:
        directory(os.path.join(RESULTS, "steerers/{model}/{task}/L{layer}/{method}/{split}.multi")),
    params:
        steerer=lambda w: method_spec(w.method)["steerer"],
        hyper=lambda w: method_spec(w.method)["params"],
        layers=lambda w: method_layers(w.method),
        seed=config["seed"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "fit_steerer_layers/{model}/{task}/L{layer}/{method}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/fit_steerer_layers/{model}/{task}/L{layer}/{method}/{split}.tsv")
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        ENV
    script:
        f"{SCRIPTS}/fit_steerer_layers.py"
