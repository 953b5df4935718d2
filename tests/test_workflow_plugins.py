"""A new task and a new scorer, each one plugin module (tests/plugins/), run through the
real workflow on the demo model: nothing in the repository is edited to add them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_utils import make_workdir, snakemake

pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).parent / "plugins"


def _pairs(path: Path, n: int = 12) -> None:
    topics = ["the weather", "my garden", "your day", "the train", "dinner", "the book",
              "the meeting", "music", "the park", "coffee", "the film", "the bus"]
    with path.open("w") as f:
        for i, topic in enumerate(topics[:n]):
            f.write(json.dumps({"id": f"p{i}", "question": f"What do you think about {topic}?",
                                "polite": f"Thank you for asking, I rather like {topic}.",
                                "rude": f"Stop bothering me about {topic}."}) + "\n")


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory, smollm2_dir):
    wd = make_workdir(tmp_path_factory.mktemp("plugins") / "wd")
    _pairs(wd / "resources" / "pairs.jsonl")
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    cfg["plugins"] = ["toy_task", "toy_wordcount"]
    cfg.pop("strength")  # the demo's strength analysis is not what this test is about (~10 min)
    # The demo model, from the tests' converted copy: no convert_model job to pay for here.
    cfg["models"]["smollm2"] = {"path": str(smollm2_dir), "layers": [13], "dtype": "float32", "batch_size": 16}
    cfg["tasks"] = {"politeness": {"source": {"path": "resources/pairs.jsonl"}, "params": {"n_test": 4},
                                   "scorers": ["wordcount", "quality"]}}
    cfg["methods"] = {"NoSteer": {"steerer": "NoSteer", "T": [0]}, "CAA": {"steerer": "CAA", "T": [1.0]}}
    (wd / "config" / "plugins.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {"PYTHONPATH": f"{PLUGINS}:{Path(__file__).parents[1] / 'src'}"}
    res = snakemake(wd, "--cores", "2", "--configfile", "config/plugins.yaml", timeout=1500, env=env)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return wd, env


def test_toy_task_and_scorer_reach_the_table(plugin_run):
    wd, _ = plugin_run
    table = pd.read_csv(wd / "results" / "plugins" / "tables" / "politeness.csv")
    assert set(table["method"]) == {"NoSteer", "CAA"}
    words = table[table["metric"] == "n_words"]
    assert len(words) == 2 and (words["mean"] > 0).all()
    # The scorer's score files: one row per test item, a word count each.
    rows = [json.loads(line) for line in
            (wd / "results/plugins/scores/wordcount/smollm2/politeness/L13/CAA/T1/seed0.jsonl").read_text().splitlines()]
    gens = [json.loads(line) for line in
            (wd / "results/plugins/generations/smollm2/politeness/L13/CAA/T1/seed0.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and [r["n_words"] for r in rows] == [float(len(g["generation"].split())) for g in gens]
    # The toy task's headline metric heads its summary column.
    assert "Words" in (wd / "results" / "plugins" / "tables" / "summary.md").read_text()


def test_unknown_plugin_is_one_clear_error(plugin_run):
    wd, env = plugin_run
    cfg = yaml.safe_load((wd / "config" / "plugins.yaml").read_text())
    cfg["plugins"] = ["no_such_plugin"]
    (wd / "config" / "bad.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(wd, "-n", "--configfile", "config/bad.yaml", env=env)
    assert res.returncode != 0 and "plugins: cannot import 'no_such_plugin'" in res.stdout + res.stderr
    # The plugin run is complete: a dry run with the plugins on PYTHONPATH plans nothing.
    res = snakemake(wd, "-n", "--configfile", "config/plugins.yaml", env=env)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stdout + res.stderr
