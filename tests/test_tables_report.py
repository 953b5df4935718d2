"""The report captions render the way `snakemake --report` renders them (Jinja2, then docutils)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docutils.core import publish_parts
from jinja2 import Environment, StrictUndefined
from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params, Snakemake, Wildcards

REPORT = Path(__file__).resolve().parents[1] / "workflow" / "report"
CONFIG = {
    "bootstrap": {"n_boot": 2000, "seed": 0},
    "tasks": {"truthfulqa": {}, "toxicity": {}},
    "models": {"smollm2": {}},
}


def _render(caption: str, wildcards: dict, params: dict) -> str:
    sm = Snakemake(
        InputFiles(), OutputFiles(), Params(fromdict=params), Wildcards(fromdict=wildcards),
        1, None, Log(), CONFIG, "rule", None,
    )
    # Same options as snakemake.report; StrictUndefined also catches typos in the captions
    # (snakemake itself would silently render them empty).
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    text = env.from_string((REPORT / caption).read_text()).render(snakemake=sm, categories={}, files={})
    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2,
                                                                       "halt_level": 2})["body"]
    assert "system-message" not in html
    return html


def test_table_caption_names_task_and_bootstrap():
    html = _render("table.rst", {"task": "truthfulqa"}, {"methods": ["NoSteer", "ODESteer"]})
    assert "truthfulqa" in html and "2000 resamples" in html and "NoSteer, ODESteer" in html
    assert "number of prompts" in html


def test_summary_caption_lists_models_and_tasks():
    html = _render("summary.rst", {}, {"methods": ["NoSteer", "CAA"]})
    assert "truthfulqa, toxicity" in html and "smollm2" in html and "best baseline" in html


@pytest.mark.parametrize("name, expected", [
    ("tradeoff_toxicity_open_vs_ppl", "trade-off"),
    ("distribution_toxicity_open", "distribution"),
    ("toxicity_open_vs_T", "steering strength T"),
    ("true_info_vs_T_llama_L13", "steering strength T"),
])
def test_plot_caption_describes_each_figure(name, expected):
    html = _render("plots.rst", {"task": "toxicity", "name": name}, {"methods": ["NoSteer"]})
    assert expected in html and name in html and "number of evaluation prompts" in html


def test_workflow_description_renders():
    html = _render("workflow.rst", {}, {})
    assert "truthfulqa, toxicity" in html and "2000 resamples" in html


MINI_SNAKEFILE = '''
config = {"bootstrap": {"n_boot": 200, "seed": 0}, "tasks": {"toxicity": {}}, "models": {"m": {}}}
report: "report/workflow.rst"
METHODS = ["NoSteer", "CAA", "ODESteer"]
SCORES = [f"results/scores/{s}/m/toxicity/L13/{m}/T{t}/seed0.jsonl"
          for s in ("quality", "toxicity_open") for m, t in (("NoSteer", 0), ("CAA", 4), ("ODESteer", 5))]

rule all:
    input: "results/tables/toxicity.csv", "results/tables/summary.csv", "results/plots/toxicity"

rule summarise:
    input: scores=SCORES
    output: "results/summaries/{task}.csv"
    params: bootstrap=config["bootstrap"]
    run:
        from steerbench.stages.tables import summarise_task
        summarise_task(input.scores, wildcards.task, output[0], **params.bootstrap)

rule tabulate:
    input: summary="results/summaries/{task}.csv"
    output:
        csv=report("results/tables/{task}.csv", caption="report/table.rst", category="Tables",
                   labels={"task": "{task}", "format": "csv"}),
        md="results/tables/{task}.md", tex="results/tables/{task}.tex",
    params: methods=METHODS
    run:
        from steerbench.stages.tables import tabulate
        tabulate(input.summary, wildcards.task, params.methods, output.csv, output.md, output.tex)

rule summary_table:
    input: summaries=["results/summaries/toxicity.csv"]
    output:
        csv=report("results/tables/summary.csv", caption="report/summary.rst", category="Tables",
                   labels={"task": "all", "format": "csv"}),
        md="results/tables/summary.md", tex="results/tables/summary.tex",
    params: methods=METHODS
    run:
        from steerbench.stages.tables import tabulate_summary
        tabulate_summary(input.summaries, params.methods, output.csv, output.md, output.tex)

rule plot:
    input: summary="results/summaries/{task}.csv", scores=SCORES
    output:
        report(directory("results/plots/{task}"), patterns=["{name}.png"], caption="report/plots.rst",
               category="Plots", labels={"task": "{task}", "figure": "{name}"}),
    params: methods=METHODS
    run:
        from steerbench.stages.plots import plot_task_dir
        plot_task_dir(input.summary, input.scores, wildcards.task, params.methods, output[0])
'''


def test_snakemake_report_shows_tables_and_plots_with_captions(tmp_path):
    """The real `snakemake --report` on a small workflow wired like workflow/rules/tables.smk."""
    import numpy as np

    from tables_synth import write_scores

    shutil.copytree(REPORT, tmp_path / "report")
    (tmp_path / "Snakefile").write_text(MINI_SNAKEFILE)
    rng = np.random.default_rng(0)
    for method, T in (("NoSteer", 0.0), ("CAA", 4.0), ("ODESteer", 5.0)):
        write_scores(tmp_path, "quality", "m", "toxicity", 13, method, T, 0,
                     lambda m, i: 20 + rng.normal(size=i.size), n=16)
        write_scores(tmp_path, "toxicity_open", "m", "toxicity", 13, method, T, 0,
                     {"toxicity": rng.uniform(size=16) / (1 + T)}, n=16)
    exe = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([exe, "--cores", "1", "--quiet"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rep = subprocess.run([exe, "--report", "report.html"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    for text in ("Alignment / quality trade-off", "Per-prompt score distribution",
                 "Headline metric vs steering strength T", "The main table across models",
                 "bootstrap confidence interval (200 resamples", "tradeoff_toxicity_open_vs_ppl.png",
                 "benchmarked on"):
        assert text in html, text
