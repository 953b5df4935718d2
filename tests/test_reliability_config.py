"""Typos in `generation:` and `methods.<id>.params`, a missing section and a layer beyond
the model's depth stop the run at start, naming the key, the valid keys and the file."""

from __future__ import annotations

import copy

import pytest
import yaml

from steerbench.param_checks import (
    ParamError, check_params, generation_keys, model_depth, steerer_param_keys,
)
from workflow_utils import REPO, make_workdir, snakemake

DEMO = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
FILES = ["config/config.yaml"]


def _cfg(**edits):
    cfg = copy.deepcopy(DEMO)
    for path, value in edits.items():
        node = cfg
        *head, last = path.split("__")
        for key in head:
            node = node.setdefault(key, {})
        node[last] = value
    return cfg


def _local(cfg, model_dir):
    return lambda name: str(model_dir)


def test_valid_keys_come_from_the_code():
    assert {"max_new_tokens", "temperature", "top_p", "do_sample", "stop"} <= set(generation_keys())
    assert "seed" not in generation_keys() and "layer" not in generation_keys()  # set by the stage
    assert steerer_param_keys("ITI") == ["C", "max_iter"]
    assert steerer_param_keys("CAA") == []
    # ODESteer: the class's own arguments (no **kwargs to follow).
    assert {"degree", "n_components", "gamma", "solver", "steps", "C", "seed"} <= set(steerer_param_keys("ODESteer"))


def test_every_shipped_config_passes(smollm2_dir):
    for name in ("config.yaml", "ci.yaml", "paper.yaml"):
        cfg = yaml.safe_load((REPO / "config" / name).read_text())
        check_params(cfg, [name], model_path=lambda m: "/nonexistent")


def test_generation_typo_names_key_valid_keys_and_file():
    cfg = _cfg(tasks__truthfulqa__generation={"max_new_tokns": 8})
    with pytest.raises(ParamError, match=r"tasks\.truthfulqa\.generation\.max_new_tokns: unknown key "
                                         r"\(in config/config\.yaml\); valid keys: max_new_tokens, .*temperature"):
        check_params(cfg, FILES, model_path=lambda m: "/nonexistent")


def test_steerer_param_typo_names_key_and_valid_keys():
    cfg = _cfg(methods__ITI={"steerer": "ITI", "params": {"c": 0.5}, "T": [1.0]})
    with pytest.raises(ParamError, match=r"methods\.ITI\.params\.c: unknown key \(in config/config\.yaml\); valid keys: C, max_iter"):
        check_params(cfg, FILES, model_path=lambda m: "/nonexistent")
    cfg = _cfg(methods__CAA={"steerer": "CAA", "params": {"alpha": 2}, "T": [1.0]})
    with pytest.raises(ParamError, match=r"methods\.CAA\.params\.alpha: .*valid keys: none"):
        check_params(cfg, FILES, model_path=lambda m: "/nonexistent")


def test_missing_section_names_itself():
    cfg = copy.deepcopy(DEMO)
    del cfg["methods"]
    with pytest.raises(ParamError, match=r"no `methods:` section"):
        check_params(cfg, FILES, model_path=lambda m: "/nonexistent")


def test_layer_beyond_a_local_models_depth_is_caught_at_start(smollm2_dir):
    depth = model_depth(smollm2_dir)
    assert depth == 30  # SmolLM2-135M
    ok = _cfg(models__smollm2={"path": str(smollm2_dir), "layers": [0, depth - 1]})
    check_params(ok, FILES, model_path=lambda m: str(smollm2_dir))
    bad = _cfg(models__smollm2={"path": str(smollm2_dir), "layers": [13, depth]})
    with pytest.raises(ParamError, match=rf"models\.smollm2\.layers: layer {depth} is out of range .*"
                                         rf"has {depth} decoder layers \(valid: 0\.\.{depth - 1}\)"):
        check_params(bad, FILES, model_path=lambda m: str(smollm2_dir))
    # Not on disk yet (a hub model before download_model): left to its first job.
    check_params(bad, FILES, model_path=lambda m: "/nonexistent")


def test_layer_beyond_depth_fails_the_first_job_when_the_model_was_not_local(smollm2_dir, tmp_path):
    from steerbench.stages.extract import extract_split

    split = tmp_path / "train.jsonl"
    split.write_text('{"id": "q0", "prompt": "p", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(ValueError, match=r"layer 99 is out of range .* \(valid: 0\.\.29\)"):
        extract_split(smollm2_dir, "ultrafeedback", split, 99, tmp_path / "acts.safetensors", device="cpu")
    assert not (tmp_path / "acts.safetensors").exists()


@pytest.mark.slow
def test_dry_run_with_a_typo_stops_at_start_naming_the_key(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["tasks"]["truthfulqa"]["generation"]["max_new_tokns"] = 8
    (wd / "config" / "typo.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = snakemake(wd, "-n", "--configfile", "config/typo.yaml", timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "tasks.truthfulqa.generation.max_new_tokns: unknown key" in out, out[-3000:]
    assert "typo.yaml" in out and "valid keys: max_new_tokens" in out
