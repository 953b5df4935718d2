# CPU: fit one steering method per (model, task, layer, fit split). The method's library
# files are inputs, so editing one steerer's code refits only that method.


rule fit_steerer:
    input:
        acts=os.path.join(RESULTS, "activations/{model}/{task}/L{layer}/{split}.safetensors"),
        code=lambda w: [str(p) for p in steerer_source_files(method_spec(w.method)["steerer"])],
        # Extra fit data (groups, queries, trajectories) of the steerers that require it.
        extras=learned_extra_files,
    output:
        tensors=os.path.join(RESULTS, "steerers/{model}/{task}/L{layer}/{method}/{split}.safetensors"),
        meta=os.path.join(RESULTS, "steerers/{model}/{task}/L{layer}/{method}/{split}.json"),
    params:
        steerer=lambda w: method_spec(w.method)["steerer"],
        hyper=lambda w: method_spec(w.method)["params"],
        seed=config["seed"],
    threads: config["threads"]
    log:
        os.path.join(LOGS, "fit_steerer/{model}/{task}/L{layer}/{method}/{split}.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/fit_steerer/{model}/{task}/L{layer}/{method}/{split}.tsv")
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        ENV
    script:
        f"{SCRIPTS}/fit_steerer.py"


include: "multilayer.smk"
