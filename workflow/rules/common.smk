# Config validation, path helpers and the targets of `rule all`.

import os
import re

from steerbench.config_checks import check_config, model_ref_path, run_name, scorer_settings, validate_config
from steerbench.metrics import ours_methods
from steerbench.results import format_T
from steerbench.plugins import load_plugins
from steerbench.scoring.registry import scorers
from steerbench.steerers import steerer_source_files
from steerbench.tasks import get_task
from steerbench.tasks.validation import validation_plan

# Plugins first: they register the tasks and scorers the schema and the checks then know.
load_plugins(config.get("plugins"))
validate_config(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"), workflow.config_settings.configfiles)
check_config(config)
SCORERS = scorers()
# Every output a config determines lives under its run's root, so two configs in one clone
# never overwrite each other; models and content-keyed caches stay shared in resources/.
RUN_NAME = run_name(config, workflow.config_settings.configfiles)
RESULTS = f"results/{RUN_NAME}"
LOGS = f"logs/{RUN_NAME}"


def canonical(value):
    """`value` with dict keys sorted, so reordering keys in a config file changes no
    rule's params (Snakemake reruns a job whose params changed)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


for _spec in config["tasks"].values():
    for _key in ("source", "params", "generation"):
        _spec[_key] = canonical(_spec.get(_key, {}))
for _spec in config["methods"].values():
    _spec["params"] = canonical(_spec.get("params", {}))
config["scorers"] = canonical(config["scorers"])

SCRIPTS = "../scripts"
# The environment every rule runs in under --software-deployment-method conda.
ENV = "../../envs/steerbench.yaml"
MODELS = list(config["models"])
TASKS = list(config["tasks"])
METHODS = list(config["methods"])
SEEDS = [int(s) for s in config["seeds"]]


wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),
    task="|".join(TASKS),
    method="|".join(re.escape(m) for m in METHODS),
    layer=r"\d+",
    T=r"[0-9.e+-]+",
    seed=r"\d+",
    split=r"[A-Za-z0-9_]+",


def task_of(name):
    return get_task(name)


def model_path(model):
    """Folder of a steered model: a local path, or made by download_model / convert_model."""
    return model_ref_path(config, model)


def layers_of(model):
    return [int(layer) for layer in config["models"][model]["layers"]]


def T_values(method):
    return [format_T(float(t)) for t in config["methods"][method]["T"]]


def split_file(task, split):
    return f"{RESULTS}/datasets/{task}/{split}.jsonl"


def steerer_file(w, split):
    if method_layers(w.method):  # one steerer per layer, in one folder (multilayer.smk)
        return f"{RESULTS}/steerers/{w.model}/{w.task}/L{w.layer}/{w.method}/{split}.multi"
    return f"{RESULTS}/steerers/{w.model}/{w.task}/L{w.layer}/{w.method}/{split}.safetensors"


def methods_of(task):
    """The methods configured for `task` (methods.<id>.tasks; unset: every task)."""
    return [m for m in METHODS if config["methods"][m]["tasks"] is None or task in config["methods"][m]["tasks"]]


def run_combinations(task):
    """(model, layer, method, T, seed) of every generation run of a task. A multi-layer
    method (methods.<id>.layers) runs once per model, under its first layer."""
    for model in models_of(task):
        for layer in layers_of(model):
            for method in methods_of(task):
                if method_layers(method):
                    continue
                for T in T_values(method):
                    for seed in SEEDS:
                        yield model, layer, method, T, seed
        for method in methods_of(task):
            if method_layers(method):
                for T in T_values(method):
                    for seed in SEEDS:
                        yield model, method_layers(method)[0], method, T, seed


def score_files(task):
    files = []
    for scorer in config["tasks"][task]["scorers"]:
        for model, layer, method, T, seed in run_combinations(task):
            if SCORERS[scorer].one_seed and seed != SEEDS[0]:
                continue  # a deterministic scorer: one seed is enough
            files.append(SCORE_PATH.format(scorer=scorer).format(model=model, task=task, layer=layer, method=method,
                                                                 T=T, seed=seed))
    return files


def method_spec(method):
    return config["methods"][method]


def eval_plan(task):
    return task_of(task).eval_plan


PROMPT_PPL = os.path.join(RESULTS, "datasets/toxicity/rtp_prompt_ppl.jsonl")
SCORE_PATH = os.path.join(RESULTS, "scores/{scorer}/{{model}}/{{task}}/L{{layer}}/{{method}}/T{{T}}/seed{{seed}}.jsonl")
GENERATIONS = os.path.join(RESULTS, "generations/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.jsonl")
RUN = "{model}/{task}/L{layer}/{method}/T{T}/seed{seed}"


def scorer_cfg(name):
    return canonical(scorer_settings(config, name))


def scorer_model_file(spec, key):
    """Input function: the local path of the model a scorer's setting `key` names, or the
    spec's default model file when the setting is unset."""

    def path(w):
        ref = scorer_cfg(spec.name).get(key)
        if ref is None:
            if spec.default_model is None:
                raise ValueError(f"scorers.{spec.name}.{key} is not set")
            return f"{RESULTS}/{spec.default_model}"
        return model_ref_path(config, ref)

    return path


def eval_split_files(w):
    return [split_file(w.task, ev) for _, ev in eval_plan(w.task)]


def local_source_files(source):
    """Every local file a source block names, so editing one reruns its download."""
    files = []
    for key, value in (source or {}).items():
        if isinstance(value, dict):
            files += local_source_files(value)
        elif key.endswith("path") and isinstance(value, str):
            files.append(value)
    return files


def dataset_source(task):
    return config["tasks"][task]["source"]


# A run's tables (one per task, and "summary"), each in three formats: tables.smk's outputs.
TABLE_PATH = os.path.join(RESULTS, "tables/{name}.{ext}")
# Each task's long summary (means, CIs, paired tests), computed once: tables and plots read it.
SUMMARY_PATH = os.path.join(RESULTS, "summaries/{task}.csv")


def table_files(name):
    return [TABLE_PATH.format(name=name, ext=ext) for ext in ("csv", "md", "tex")]


def all_targets():
    targets = []
    for task in TASKS:
        targets += table_files(task)
        targets.append(f"{RESULTS}/plots/{task}")
    targets += table_files("summary")
    return targets


# The parts of a score_<scorer> rule that come from its spec (score.smk loops over them).
def score_rule_inputs(spec):
    """The input functions of a scorer's rule, named as stages.score.job_from_snakemake reads them."""
    inputs = {}
    if "generations" in spec.inputs:
        inputs["generations"] = GENERATIONS
    if "eval_splits" in spec.inputs:
        inputs["data"] = eval_split_files
    if "steered_model" in spec.inputs:
        inputs["model"] = lambda w: model_path(w.model)
    if "steerers" in spec.inputs:
        inputs["steerers"] = lambda w: [steerer_file(w, fit) for fit, _ in eval_plan(w.task)]
    for key in spec.model_keys:
        inputs[f"model_{key}"] = scorer_model_file(spec, key)
    return inputs


def score_rule_params(spec):
    params = {"scorer": spec.name, "cfg": scorer_cfg(spec.name), "model_keys": list(spec.model_keys),
              "min_coverage": config["min_coverage"]}
    if spec.rate_limit is None:
        params["device"] = config["device"]
    if "steered_model" in spec.inputs:
        params["dtype"] = lambda w: config["models"][w.model]["dtype"]
        params["prompt_format"] = lambda w: config["models"][w.model]["prompt_format"]
        params["limit"] = lambda w: config["tasks"][w.task]["max_eval"]
    return params


def score_rule_resources(spec):
    resources = dict(spec.resources)
    if spec.rate_limit is not None:
        resources[spec.rate_limit] = 1
    return resources


# Fit data of the learned steerers (workflow/rules/learned.smk).
def trajectory_cfg():
    """Top-level `trajectories:` config: reward (similarity | model), n_samples, generation."""
    return config["trajectories"]  # defaults filled in by the schema


def learned_extra_files(w):
    """The extras files fit_steerer needs for method w.method (none for the other methods)."""
    from steerbench.param_checks import steerer_requires

    needs = set(steerer_requires(method_spec(w.method)["steerer"]))
    base = f"{RESULTS}/activations/{w.model}/{w.task}/L{w.layer}/{w.split}"
    files = []
    if needs & {"pos_group", "neg_group", "queries"}:
        files.append(f"{base}.extra.safetensors")
    if any(k.startswith("traj_") for k in needs):
        files.append(f"{base}.traj.safetensors")
    return files


# Multi-layer methods (workflow/rules/multilayer.smk) and per-task model lists.
def method_layers(method):
    """The layers a multi-layer method steers at once (methods.<id>.layers), else []."""
    return [int(layer) for layer in (config["methods"][method].get("layers") or [])]


def models_of(task):
    """The models a task runs on (tasks.<task>.models; unset: every model)."""
    return config["tasks"][task].get("models") or MODELS


# Strength selection on validation data (validation.smk, select.smk; docs/selection.md).
VAL_GENERATIONS = os.path.join(RESULTS, "validation/generations/{model}/{task}/L{layer}/{method}/T{T}/seed{seed}.jsonl")
VAL_SCORE_PATH = os.path.join(RESULTS, "validation/scores/{scorer}/{{model}}/{{task}}/L{{layer}}/{{method}}/T{{T}}/seed{{seed}}.jsonl")


def val_split_files(w):
    return [split_file(w.task, ev) for _, ev in validation_plan(w.task)]


def val_steerer_files(w):
    return [steerer_file(w, fit) for fit, _ in validation_plan(w.task)]


def val_score_rule_inputs(spec):
    """A scorer's inputs (score_rule_inputs) with the validation generations, splits and steerers."""
    inputs = score_rule_inputs(spec)
    swap = {"generations": VAL_GENERATIONS, "data": val_split_files, "steerers": val_steerer_files}
    return {k: swap.get(k, v) for k, v in inputs.items()}


def val_score_files(task):
    return [f.replace(f"{RESULTS}/scores/", f"{RESULTS}/validation/scores/", 1) for f in score_files(task)]


def selection_file(task):
    return f"{RESULTS}/tables/{task}.select_T.csv"
