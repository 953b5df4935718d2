"""The workflow's parse reads torch-side facts (steerer constructor keys, required fit
tensors, whether params construct, generate()'s keywords) from a cache, so a dry run
imports no torch once they are known (steerbench.parse_facts)."""

from __future__ import annotations

import json
import re

import pytest

from steerbench import param_checks, parse_facts
from workflow_utils import make_workdir, snakemake


def _imports_torch(res) -> bool:
    return re.search(r"\|\s+torch$", res.stderr, flags=re.M) is not None


def test_a_dry_run_imports_torch_only_until_the_facts_are_cached(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    first = snakemake(wd, "-n", env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout=300)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert _imports_torch(first)  # the facts are computed by importing the steerers once
    facts = list((wd / ".snakemake" / "steerbench").glob("facts-*.json"))
    assert len(facts) == 1
    second = snakemake(wd, "-n", env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert not _imports_torch(second), "the second parse imported torch"
    # The same plan either way.
    jobs = [line for line in first.stdout.splitlines() if re.match(r"^\w+\s+\d+$", line)]
    assert jobs and jobs == [line for line in second.stdout.splitlines() if re.match(r"^\w+\s+\d+$", line)]


def test_cached_facts_equal_the_code_and_are_served_from_the_file(tmp_path, monkeypatch):
    from steerbench.steerers import AlphaSteer, DynamicAlphaSteer, HPR, get_steerer

    monkeypatch.chdir(tmp_path)
    assert param_checks.steerer_requires("HPR") == list(HPR.requires)
    assert "ratio" in param_checks.steerer_param_keys("AlphaSteer")
    assert set(param_checks.steerer_param_keys("AlphaSteer")) <= set(param_checks.steerer_param_keys("DynamicAlphaSteer"))
    assert isinstance(get_steerer("AlphaSteer", ratio=0.5), AlphaSteer) and DynamicAlphaSteer.name == "DynamicAlphaSteer"
    error = param_checks.steerer_rejects("AlphaSteer", {"ratio": 1.5})
    with pytest.raises(ValueError) as direct:
        get_steerer("AlphaSteer", ratio=1.5)
    assert error == str(direct.value) and "ratio" in error
    assert param_checks.steerer_rejects("AlphaSteer", {"ratio": 0.5}) is None
    assert "max_new_tokens" in param_checks.generation_keys()
    [path] = (tmp_path / ".snakemake" / "steerbench").glob("facts-*.json")
    facts = json.loads(path.read_text())
    assert facts["steerer_requires:HPR"] == list(HPR.requires)
    # What the file says is what the checks use (no recomputation once cached).
    facts["steerer_params:CAA"] = ["only_this"]
    path.write_text(json.dumps(facts))
    monkeypatch.setattr(parse_facts, "_path", None)
    assert param_checks.steerer_param_keys("CAA") == ["only_this"]
    with pytest.raises(ValueError, match="unknown steerer 'Nope'"):
        param_checks.steerer_param_keys("Nope")


def test_every_registered_steerer_class_carries_its_registry_name():
    from steerbench.steerers import _lookup, available_steerers, steerer_source_files

    for name in available_steerers():
        assert _lookup(name).name == name
        assert all(p.is_file() for p in steerer_source_files(name))
