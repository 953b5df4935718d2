"""The scorer and task registries and the config checks that read them (no workflow run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from steerbench.config_checks import ConfigError, check_config, config_schema, scorer_settings, validate_config
from steerbench.metrics import DEFAULT_REFERENCE
from steerbench.scoring.registry import ScorerSpec, get_scorer, register_scorer, scorers

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _demo() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_every_builtin_scorer_is_registered_with_its_facts():
    specs = scorers()
    assert set(specs) == {"judge", "mc", "similarity", "reward", "perspective", "toxicity_open", "quality", "refusal",
                          "refusal_guard", "math_accuracy"}
    assert specs["mc"].one_seed and not specs["quality"].one_seed
    assert specs["perspective"].rate_limit == "perspective_api" and not specs["perspective"].gpu
    assert specs["judge"].model_keys == ("truth_model", "info_model")
    assert specs["toxicity_open"].default_model.endswith("classifier.safetensors")
    assert specs["refusal_guard"].tasks == ("refusal",) and specs["refusal_guard"].gpu


def test_schema_is_generated_from_the_specs():
    schema = config_schema(SCHEMA)
    quality = schema["properties"]["scorers"]["properties"]["quality"]["properties"]
    assert quality["batch_size"]["default"] == 8
    assert "truthfulqa" in schema["properties"]["tasks"]["propertyNames"]["enum"]
    # the reference method's default is one fact: the library's, not a copy in the YAML
    assert "default" not in yaml.safe_load(SCHEMA.read_text())["properties"]["reference"]
    assert schema["properties"]["reference"]["default"] == DEFAULT_REFERENCE == "NoSteer"


def test_defaults_are_filled_from_the_specs():
    cfg = _demo()
    validate_config(cfg, SCHEMA)
    assert cfg["scorers"]["quality"] == {"model": "smollm2", "batch_size": 8, "max_length": 1024}
    assert cfg["reference"] == "NoSteer" and cfg["plugins"] == []
    # A scorer without a config block still gets its defaults.
    assert scorer_settings(cfg, "mc") == {"batch_size": 8, "pairs": "official"}
    check_config(cfg)


@pytest.mark.parametrize("mutate, words", [
    (lambda c: c.pop("methods"), ["methods", "missing", "config/x.yaml"]),
    (lambda c: c.update(metods=c.pop("methods")), ["metods", "unknown key"]),
    (lambda c: c["scorers"]["quality"].update(batch_size=0), ["scorers.quality.batch_size"]),
    (lambda c: c["tasks"]["truthfulqa"].update(scorers=["mc", "bleurt"]), ["bleurt", "tasks.truthfulqa.scorers.1"]),
])
def test_schema_errors_are_one_line_naming_key_and_file(mutate, words):
    cfg = _demo()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA, ["config/x.yaml"])
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_scorer_only_for_its_task_kinds():
    cfg = _demo()
    cfg["tasks"]["toxicity"]["scorers"] = ["mc", "toxicity_open"]
    validate_config(cfg, SCHEMA)
    with pytest.raises(ConfigError, match="tasks.toxicity.scorers: 'mc' only works for tasks of kind or name truthfulness"):
        check_config(cfg)


def test_register_scorer_rejects_a_second_spec_under_one_name():
    spec = get_scorer("quality")
    clash = ScorerSpec(name="quality", score=lambda job: [], raw_metrics=("ppl",))
    with pytest.raises(ValueError, match="registered twice"):
        register_scorer(clash)
    assert register_scorer(spec) is spec  # the same spec again is harmless
    with pytest.raises(ValueError, match="unknown inputs"):
        ScorerSpec(name="x", score=lambda job: [], raw_metrics=("a",), inputs=("genrations",))
