# Scoring: one rule per scorer, one score file per generation run. Model-based scorers
# are GPU rules; Perspective is rate-limited HTTP with a persistent cache (resumable).

rule score_quality:
    input:
        generations=GENERATIONS,
        model=lambda w: scorer_model("quality"),
    output:
        SCORE_PATH.format(scorer="quality"),
    params:
        cfg=scorer_cfg("quality"),
        device=config["device"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_quality/{RUN}.log",
    benchmark:
        f"benchmarks/score_quality/{RUN}.tsv"
    resources:
        mem_mb=16000,
        runtime=60,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule score_similarity:
    input:
        generations=GENERATIONS,
        data=eval_split_files,
    output:
        SCORE_PATH.format(scorer="similarity"),
    params:
        cfg=scorer_cfg("similarity"),
        device=config["device"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_similarity/{RUN}.log",
    benchmark:
        f"benchmarks/score_similarity/{RUN}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule score_mc:
    input:
        model=lambda w: model_path(w.model),
        steerers=lambda w: [steerer_file(w, fit) for fit, _ in eval_plan(w.task)],
        data=eval_split_files,
    output:
        SCORE_PATH.format(scorer="mc"),
    params:
        cfg=scorer_cfg("mc"),
        splits=lambda w: [ev for _, ev in eval_plan(w.task)],
        device=config["device"],
        dtype=lambda w: config["models"][w.model]["dtype"],
        prompt_format=lambda w: config["models"][w.model]["prompt_format"],
        limit=lambda w: config["tasks"][w.task]["max_eval"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_mc/{RUN}.log",
    benchmark:
        f"benchmarks/score_mc/{RUN}.tsv"
    resources:
        mem_mb=24000,
        runtime=120,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule score_judge:
    input:
        generations=GENERATIONS,
        data=eval_split_files,
        truth_model=lambda w: scorer_model("judge", "truth_model"),
        info_model=lambda w: scorer_model("judge", "info_model"),
    output:
        SCORE_PATH.format(scorer="judge"),
    params:
        cfg=scorer_cfg("judge"),
        device=config["device"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_judge/{RUN}.log",
    benchmark:
        f"benchmarks/score_judge/{RUN}.tsv"
    resources:
        mem_mb=32000,
        runtime=120,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule score_reward:
    input:
        generations=GENERATIONS,
        model=lambda w: scorer_model("reward"),
    output:
        SCORE_PATH.format(scorer="reward"),
    params:
        cfg=scorer_cfg("reward"),
        device=config["device"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_reward/{RUN}.log",
    benchmark:
        f"benchmarks/score_reward/{RUN}.tsv"
    resources:
        mem_mb=32000,
        runtime=120,
        gpu=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule score_perspective:
    input:
        generations=GENERATIONS,
    output:
        SCORE_PATH.format(scorer="perspective"),
    params:
        cfg=scorer_cfg("perspective"),
        min_coverage=config["min_coverage"],
    log:
        f"logs/score_perspective/{RUN}.log",
    benchmark:
        f"benchmarks/score_perspective/{RUN}.tsv"
    resources:
        mem_mb=2000,
        runtime=600,
        # Shared quota: Perspective jobs run one at a time against the per-key rate limit.
        perspective_api=1,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"


rule train_toxicity_classifier:
    input:
        data="resources/datasets/toxicity/raw",
    output:
        weights="resources/scorers/toxicity_open/classifier.safetensors",
        meta="resources/scorers/toxicity_open/classifier.json",
    log:
        "logs/train_toxicity_classifier.log",
    benchmark:
        "benchmarks/train_toxicity_classifier.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/train_toxicity_classifier.py"


rule score_toxicity_open:
    input:
        generations=GENERATIONS,
        model=toxicity_open_model,
    output:
        SCORE_PATH.format(scorer="toxicity_open"),
    params:
        cfg=scorer_cfg("toxicity_open"),
        device=config["device"],
        min_coverage=config["min_coverage"],
    threads: config["threads"]
    log:
        f"logs/score_toxicity_open/{RUN}.log",
    benchmark:
        f"benchmarks/score_toxicity_open/{RUN}.tsv"
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        f"{SCRIPTS}/score.py"
