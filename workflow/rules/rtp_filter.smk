# GPU (small): the perplexity of every RealToxicityPrompts prompt under the configured LM
# (paper: gpt2, as the official preprocess_rtp.py; demo/CI: the demo model), cached once;
# format_toxicity reads it for the official test-prompt selection (params.selection: official).


rule prompt_ppl_toxicity:
    input:
        raw=os.path.join(RESULTS, "datasets/toxicity/raw"),
        model=lambda w: model_ref_path(config, config["tasks"]["toxicity"]["ppl_model"]),
    output:
        PROMPT_PPL,
    params:
        device=config["device"],
        batch_size=32,
    threads: config["threads"]
    log:
        os.path.join(LOGS, "prompt_ppl_toxicity.log"),
    benchmark:
        os.path.join(LOGS, "benchmarks/prompt_ppl_toxicity.tsv")
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/prompt_ppl.py"
