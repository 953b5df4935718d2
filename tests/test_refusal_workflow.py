"""Multi-layer methods and the refusal task in the workflow: config errors at parse time
(dry runs of the real snakemake CLI), and the multi-layer stages against the library."""

from __future__ import annotations

import pytest
import yaml

from workflow_utils import make_workdir, planned_jobs, snakemake


def _refusal_config(wd, smollm2_dir, mutate=None):
    """The demo's refusal task with the local SmolLM2 folder (so layer depths are known)."""
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["models"]["smollm2"] = {"path": str(smollm2_dir), "layers": [13], "dtype": "float32"}
    cfg["tasks"] = {"refusal": cfg["tasks"]["refusal"]}
    cfg["methods"] = {k: v for k, v in cfg["methods"].items() if k in ("NoSteer", "CAA", "AlphaSteer", "DynamicAlphaSteer")}
    cfg.pop("strength", None)
    cfg.pop("scorers", None)
    if mutate:
        mutate(cfg)
    path = wd / "config" / "refusal_test.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return "config/refusal_test.yaml"


@pytest.fixture()
def wd(tmp_path):
    return make_workdir(tmp_path / "wd")


def _fails_with(wd, config, *needles):
    res = snakemake(wd, "-n", "--configfile", config)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    for needle in needles:
        assert needle in out, (needle, out[-3000:])


def test_refusal_dry_run_plans_one_extraction_and_one_fit_per_multilayer_method(wd, smollm2_dir):
    jobs = planned_jobs(wd, "--configfile", _refusal_config(wd, smollm2_dir))
    assert jobs["extract_activations_layers"] == 1  # both AlphaSteer variants share the layer set
    assert jobs["fit_steerer_layers"] == 2
    assert jobs["extract_activations"] == 1 and jobs["fit_steerer"] == 2  # NoSteer, CAA at layer 13
    assert jobs["generate"] == 4 and jobs["score_refusal"] == 4 and jobs["score_math_accuracy"] == 4


def test_layer_beyond_depth_is_named(wd, smollm2_dir):
    def mutate(c):
        c["methods"]["AlphaSteer"]["layers"] = [13, 30]

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "methods.AlphaSteer.layers", "layer 30",
                "30 decoder layers")


def test_ratio_outside_unit_interval_is_named(wd, smollm2_dir):
    def mutate(c):
        c["methods"]["AlphaSteer"]["params"] = {"ratio": {13: 0.6, 15: 1.5, 17: 0.6, 19: 0.6}}

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "methods.AlphaSteer.params (layer 15)", "(0, 1)")


def test_per_layer_mapping_must_cover_the_steered_layers(wd, smollm2_dir):
    def mutate(c):
        c["methods"]["AlphaSteer"]["params"] = {"ratio": {13: 0.6, 15: 0.5}}

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "methods.AlphaSteer.params.ratio",
                "[13, 15, 17, 19]")


def test_unknown_method_key_is_named(wd, smollm2_dir):
    def mutate(c):
        c["methods"]["AlphaSteer"]["layer"] = [13]

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "layer")


def test_missing_eval_set_is_named_before_any_job(wd, smollm2_dir):
    def mutate(c):
        del c["tasks"]["refusal"]["source"]["gcg"]

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "tasks.refusal.source", "gcg")


def test_task_models_must_be_configured(wd, smollm2_dir):
    def mutate(c):
        c["tasks"]["refusal"]["models"] = ["llama"]

    _fails_with(wd, _refusal_config(wd, smollm2_dir, mutate), "tasks.refusal.models", "llama")


def test_multilayer_stages_equal_the_library(tmp_path, smollm2_dir):
    """extract_split_layers + fit_steerer_layers give one steerer per layer, each equal to a
    steerer fitted on the library's own activations; generate_task with the folder equals
    the library's multi-layer generate."""
    import torch

    from steerbench.lm import PromptFormatter, extract_activations, generate, load_model
    from steerbench.stages.generate import generate_task
    from steerbench.stages.multilayer import extract_split_layers, fit_steerer_layers, load_steerers
    from steerbench.io import read_jsonl
    from steerbench.steerers import get_steerer
    from steerbench.tasks import get_task

    task = get_task("refusal")
    demo = "resources/demo/refusal"
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    source = {name: {"path": str(repo / demo / f"{name}.json")} for name in
              ("harmful", "jailbreak_train", "benign", "borderline", "advbench", "jailbreakbench", "aim", "autodan",
               "gcg", "jailbroken", "pair", "renellm", "cipher", "xstest", "gsm8k", "math", "alpaca_eval")}
    raw, splits = tmp_path / "raw", tmp_path / "splits"
    task.download(source, raw)
    task.format(raw, splits, seed=0, n_harmful=5, n_jailbreak=1, n_benign=6, n_borderline=2, n_eval=2)
    layers = [5, 9]
    acts = tmp_path / "acts.safetensors"
    counts = extract_split_layers(smollm2_dir, "refusal", splits / "fit.jsonl", layers, acts, dtype="float32")
    assert counts == {"pos": 6, "neg": 6, "borderline": 2}
    out = tmp_path / "fit.multi"
    params = {"ratio": {5: 0.5, 9: 0.6}}
    files = fit_steerer_layers(acts, "AlphaSteer", params, layers, seed=3, out_dir=out)
    assert sorted(f.name for f in files) == ["L5.safetensors", "L9.safetensors"]
    steerers = load_steerers(out)
    assert sorted(steerers) == layers
    assert steerers[5].ratio == 0.5 and steerers[9].ratio == 0.6

    lm = load_model(smollm2_dir, dtype="float32")
    fmt = PromptFormatter(lm, "auto")
    records = read_jsonl(splits / "fit.jsonl")
    pos, neg = task.fit_texts(records, fmt)
    border = task.fit_extra_texts(records, fmt)["borderline"]
    lib = extract_activations(lm, pos + neg + border, layers)
    for layer, ratio in ((5, 0.5), (9, 0.6)):
        a = lib[layer]
        ref = get_steerer("AlphaSteer", ratio=ratio).fit(a[:6], a[6:12], {"borderline": a[12:]}, seed=3)
        for key, value in ref.state.items():
            torch.testing.assert_close(steerers[layer].state[key], value, rtol=1e-4, atol=1e-5)

    evals = ["advbench", "xstest"]  # two splits joined in one batched call
    gen = tmp_path / "gen.jsonl"
    generate_task(smollm2_dir, "refusal", [(s, out, splits / f"{s}.jsonl") for s in evals], 5, 2.0, 0, gen,
                  settings={"max_new_tokens": 4}, dtype="float32")
    rows = read_jsonl(gen)
    items = [it for s in evals for it in task.prompts(read_jsonl(splits / f"{s}.jsonl"), fmt)]
    want = generate(lm, [it["prompt_text"] for it in items], steerer=steerers, layer=None, T=2.0, seed=0,
                    max_new_tokens=4, do_sample=False, repetition_penalty=1.0)
    assert [r["generation"] for r in rows] == want
    assert [r["split"] for r in rows] == ["advbench"] * 2 + ["xstest"] * 2
    unsteered = generate(lm, [it["prompt_text"] for it in items], max_new_tokens=4, do_sample=False,
                         repetition_penalty=1.0)
    assert want != unsteered  # T=2 on two layers changes something: the comparison is not vacuous
