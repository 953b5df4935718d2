# GPU: last-token activations of the texts a steerer is fitted on.


rule extract_activations:
    input:
        model=lambda w: model_path(w.model),
        data=lambda w: split_file(w.task, w.split),
    output:
        os.path.join(RESULTS, "activations/{model}/{task}/L{layer}/{split}.safetensors"),
    params:
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        batch_size=lambda w: config["models"][w.model]["batch_size"],
        limit=lambda w: config["tasks"][w.task]["max_fit"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "extract_activations/{model}/{task}/L{layer}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/extract_activations/{model}/{task}/L{layer}/{split}.tsv")
    resources:
        mem_mb=24000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/extract_activations.py"
