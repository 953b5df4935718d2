"""Summaries and task tables from synthetic score files in the real results/scores layout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from steerbench.results import collect, format_T
from steerbench.tables import (
    cross_model_summary,
    fmt_num,
    summarise,
    write_summary_tables,
    write_task_tables,
)
from steerbench.stages.tables import tabulate_summary

from tables_synth import summarise_each_task, tabulate_scores, write_scores

N = 60
ORDER = ["NoSteer", "CAA", "ODESteer", "ITI"]
RUNS = {"NoSteer": [0.0], "CAA": [4.0], "ODESteer": [1.0, 5.0]}


def _build(root: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for seed in (0, 1):
        base_ti = rng.uniform(0.2, 0.6, size=N)
        base_ppl = rng.uniform(10, 30, size=N)
        base_rw = np.round(rng.normal(size=N), 1)
        shuffle = rng.permutation(N)
        for method, Ts in RUNS.items():
            for T in Ts:
                if method == "CAA":  # planted null: same scores, shuffled across prompts
                    ti, ppl, rw = base_ti[shuffle], base_ppl[shuffle], base_rw
                elif method == "ODESteer" and T == 5.0:  # planted improvement, worse PPL
                    ti, ppl = base_ti + 0.3, base_ppl + 15
                    rw = base_rw + 0.5
                elif method == "ODESteer":  # half wins, half ties vs NoSteer -> win-rate 0.75
                    ti, ppl = base_ti, base_ppl + 1
                    rw = base_rw + np.where(np.arange(N) % 2 == 0, 1.0, 0.0)
                else:
                    ti, ppl, rw = base_ti, base_ppl, base_rw
                judge = {"true_info": ti, "true": np.clip(ti + 0.3, 0, 1), "info": np.clip(ti + 0.2, 0, 1)}
                quality = {"ppl": ppl, "dist1": 0.5 + 0 * ppl, "dist2": 0.6 + 0 * ppl, "dist3": 0.7 + 0 * ppl}
                # ODESteer T=1: item 0 fails in seed 0 only, item 1 in both seeds.
                failed = ((0, 1) if seed == 0 else (1,)) if (method == "ODESteer" and T == 1.0) else ()
                common = dict(model="m", task="truthfulqa", layer=13, method=method, T=T, seed=seed, n=N)
                paths.append(write_scores(root, "judge", values=judge, **common))
                paths.append(write_scores(root, "quality", values=quality, failed=failed, **common))
                paths.append(write_scores(root, "reward", values={"reward": rw},
                                          **{**common, "task": "ultrafeedback"}))
    return paths


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("scores")
    df = collect(_build(root))
    summary = summarise(df, n_boot=1000, seed=0)
    out = root / "tables"
    write_task_tables(summary, "truthfulqa", ORDER, ORDER, out / "t.csv", out / "t.md", out / "t.tex")
    write_task_tables(summary, "ultrafeedback", ORDER, ORDER[:3], out / "u.csv", out / "u.md", out / "u.tex")
    return df, summary, out


def _cell(summary, method, T, metric, task="truthfulqa"):
    row = summary[(summary["task"] == task) & (summary["method"] == method)
                  & (summary["T"] == T) & (summary["metric"] == metric)]
    assert len(row) == 1, (method, T, metric)
    return row.iloc[0]


# --- parsing the rendered tables back -------------------------------------------------

_NUM = r"-?\d+(?:\.\d+)?"
_CELL = re.compile(rf"^({_NUM}) \[({_NUM}), ({_NUM})\]$")


def _md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _parse_md(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    split = [[_md_unescape(c.strip()) for c in ln.strip().strip("|").split(" | ")] for ln in lines]
    return split[0], split[2:]


def _parse_tex(text: str) -> tuple[list[str], list[list[str]]]:
    body = text.split(r"\toprule")[1].split(r"\bottomrule")[0]
    rows = [r.strip() for r in body.replace(r"\midrule", "").split(r"\\") if r.strip()]
    return [c.strip() for c in rows[0].split(" & ")], [[c.strip() for c in r.split(" & ")] for r in rows[1:]]


def _md_cell(text: str) -> tuple[str, bool, bool]:
    bold = text.startswith("**") and text.endswith("**")
    text = text.strip("*")
    marked = text.endswith("†")
    return text.rstrip("†"), bold, marked


def _tex_cell(text: str) -> tuple[str, bool, bool]:
    marked = text.endswith(r"$^\dagger$")
    text = text.removesuffix(r"$^\dagger$")
    m = re.fullmatch(r"\\textbf\{(.*)\}", text)
    return (m.group(1) if m else text).replace("--", "–").replace(r"\%", "%"), bool(m), marked


def _metric_columns(header: list[str]) -> list[str]:
    return [h for h in header if h not in ("Model", "Method", "T", "Coverage")]


def _numbers_from(header, rows, parse) -> dict[tuple[str, str, str], tuple[str, bool, bool]]:
    out = {}
    for row in rows:
        method, T = row[0], row[1]
        for col, raw in zip(header[2:], row[2:]):
            out[(method, T, col)] = parse(raw)
    return out


# --- tests ------------------------------------------------------------------------------


def test_summary_has_one_row_per_run_and_metric(built):
    _, summary, _ = built
    tq = summary[summary["task"] == "truthfulqa"]
    assert set(tq["metric"]) == {"true_info", "true", "info", "ppl", "dist1", "dist2", "dist3"}
    assert len(tq) == 4 * 7  # 4 (method, T) runs x 7 metrics
    uf = summary[summary["task"] == "ultrafeedback"]
    assert set(uf["metric"]) == {"reward", "reward_p90", "win_rate"}
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()


def test_failed_items_count_against_coverage_and_are_not_averaged(built):
    df, summary, _ = built
    c = _cell(summary, "ODESteer", 1.0, "ppl")
    assert c["n_failed"] == 3 and c["coverage"] == pytest.approx(117 / 120)
    assert c["n"] == N - 1  # item 1 failed in both seeds; item 0 survives through seed 1
    ok = df[(df.method == "ODESteer") & (df["T"] == 1.0) & (df.metric == "ppl")].dropna(subset=["value"])
    assert c["mean"] == pytest.approx(ok.groupby("id")["value"].mean().mean())
    assert np.isfinite(c["mean"])


def test_paired_test_flags_planted_improvement_not_planted_null(built):
    _, summary, _ = built
    assert _cell(summary, "ODESteer", 5.0, "true_info")["better_than_reference"]
    assert _cell(summary, "ODESteer", 5.0, "true_info")["p_value"] < 0.01
    caa = _cell(summary, "CAA", 4.0, "true_info")
    assert not caa["better_than_reference"] and caa["p_value"] > 0.05
    # A real but *worse* change is significant yet never marked as an improvement.
    ppl = _cell(summary, "ODESteer", 5.0, "ppl")
    assert ppl["p_value"] < 0.01 and not ppl["better_than_reference"]
    assert np.isnan(_cell(summary, "NoSteer", 0.0, "true_info")["p_value"])


def test_win_rate_counts_ties_as_half(built):
    _, summary, _ = built
    assert _cell(summary, "CAA", 4.0, "win_rate", "ultrafeedback")["mean"] == 0.5  # all ties
    assert _cell(summary, "NoSteer", 0.0, "win_rate", "ultrafeedback")["mean"] == 0.5
    odes = _cell(summary, "ODESteer", 1.0, "win_rate", "ultrafeedback")
    assert odes["mean"] == pytest.approx(0.75)  # half wins, half ties
    assert odes["better_than_reference"]
    assert _cell(summary, "ODESteer", 5.0, "win_rate", "ultrafeedback")["mean"] == 1.0


def test_csv_is_long_format_in_method_order(built):
    _, _, out = built
    csv = pd.read_csv(out / "t.csv")
    for col in ["model", "task", "method", "T", "metric", "mean", "ci_low", "ci_high", "n"]:
        assert col in csv.columns
    assert list(dict.fromkeys(csv["method"])) == ["NoSteer", "CAA", "ODESteer"]


def test_markdown_and_csv_agree(built):
    _, _, out = built
    from steerbench.metrics import all_metrics

    label_to_metric = {f"{s.label} {'↑' if s.higher_is_better else '↓'}": s.name for s in all_metrics()}
    csv = pd.read_csv(out / "t.csv")
    header, rows = _parse_md((out / "t.md").read_text())
    assert header[:2] == ["Method", "T"]  # ODESteer has two T values -> a T column
    assert [r[0] for r in rows] == ["NoSteer", "CAA", "ODESteer", "ODESteer"]
    cells = _numbers_from(header, rows, _md_cell)
    checked = 0
    for r in csv.itertuples(index=False):
        label = next(lbl for lbl, k in label_to_metric.items() if k == r.metric)
        text, _, marked = cells[(r.method, format_T(r.T), label)]
        m = _CELL.match(text)
        assert m, text
        assert m.groups() == (fmt_num(r.mean), fmt_num(r.ci_low), fmt_num(r.ci_high))
        assert marked == bool(r.better_than_reference)
        checked += 1
    assert checked == len(csv) == 28


def test_latex_parses_back_to_the_markdown_numbers(built):
    _, _, out = built
    tex = (out / "t.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    md_header, md_rows = _parse_md((out / "t.md").read_text())
    tex_header, tex_rows = _parse_tex(tex)
    assert len(tex_header) == len(md_header) and len(tex_rows) == len(md_rows)
    for md_row, tex_row in zip(md_rows, tex_rows):
        assert [_md_cell(c) for c in md_row] == [_tex_cell(c) for c in tex_row]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(built, tmp_path):
    _, _, out = built
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\usepackage[utf8]{inputenc}"
                   "\\begin{document}\n" + (out / "t.tex").read_text() + "\\end{document}\n")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]


def test_best_per_column_is_bold_in_the_metric_direction(built):
    _, summary, out = built
    header, rows = _parse_md((out / "t.md").read_text())
    cells = _numbers_from(header, rows, _md_cell)
    # PPL: lower is better -> NoSteer (and CAA, the same scores shuffled) are bold, ODESteer not.
    assert cells[("NoSteer", "0", "PPL ↓")][1] and cells[("CAA", "4", "PPL ↓")][1]
    assert not cells[("ODESteer", "5", "PPL ↓")][1]
    # True*Info: higher is better -> ODESteer T=5 alone.
    bold = [k for k, v in cells.items() if k[2] == "True*Info ↑" and v[1]]
    assert bold == [("ODESteer", "5", "True*Info ↑")]


def test_coverage_column_and_partial_results_note(built):
    _, _, out = built
    md = (out / "t.md").read_text()
    header, rows = _parse_md(md)
    cov = {(r[0], r[1]): r[-1] for r in rows}
    assert cov[("ODESteer", "1")] == "98%" and cov[("NoSteer", "0")] == "100%"
    # ITI is configured but has no scores: both formats say so.
    assert "PARTIAL RESULTS" in md and "ITI" in md.split("PARTIAL RESULTS")[1]
    assert "PARTIAL RESULTS" in (out / "t.tex").read_text()
    # The ultrafeedback table was written with every configured method present.
    assert "PARTIAL" not in (out / "u.md").read_text()


def test_cross_model_summary_gain_over_best_baseline():
    rows = []

    def add(model, task, metric, method, T, mean):
        rows.append(dict(model=model, task=task, layer=13, method=method, T=T, metric=metric,
                         mean=mean, ci_low=mean - 0.01, ci_high=mean + 0.01, n=100, n_failed=0,
                         coverage=1.0, p_value=0.01, better_than_reference=method != "NoSteer"))

    for model in ("llama", "qwen"):
        add(model, "truthfulqa", "true_info", "NoSteer", 0.0, 0.30)
        add(model, "truthfulqa", "true_info", "CAA", 4.0, 0.40)
        add(model, "truthfulqa", "true_info", "ITI", 4.0, 0.50)
        add(model, "truthfulqa", "true_info", "ODESteer", 1.0, 0.45)
        add(model, "truthfulqa", "true_info", "ODESteer", 5.0, 0.55)  # best T wins
        add(model, "truthfulqa", "ppl", "ODESteer", 5.0, 9.0)
        add(model, "toxicity", "toxicity_open", "NoSteer", 0.0, 0.40)
        add(model, "toxicity", "toxicity_open", "CAA", 4.0, 0.20)
        add(model, "toxicity", "toxicity_open", "ODESteer", 5.0, 0.15)
        add(model, "ultrafeedback", "reward", "CAA", 4.0, -0.5)
        add(model, "ultrafeedback", "reward", "ODESteer", 5.0, 0.25)
    cross = cross_model_summary(pd.DataFrame(rows), ORDER)
    get = lambda m, t, meth: cross[(cross.model == m) & (cross.task == t) & (cross.method == meth)].iloc[0]  # noqa: E731
    o = get("llama", "truthfulqa", "ODESteer")
    assert o["T"] == 5.0 and o["best_baseline"] == "ITI" and o["gain_pct"] == pytest.approx(10.0)
    assert get("llama", "truthfulqa", "ITI")["gain_pct"] == 0.0
    assert get("llama", "truthfulqa", "CAA")["gain_pct"] == pytest.approx(-20.0)
    assert np.isnan(get("llama", "truthfulqa", "NoSteer")["gain_pct"])
    tox = get("qwen", "toxicity", "ODESteer")  # lower is better: 0.15 vs 0.20 is +25%
    assert tox["metric"] == "toxicity_open" and tox["gain_pct"] == pytest.approx(25.0)
    rw = get("qwen", "ultrafeedback", "ODESteer")  # reward has no ratio scale: a difference
    assert np.isnan(rw["gain_pct"]) and rw["gain"] == pytest.approx(0.75)


def test_write_summary_tables(tmp_path, built):
    _, summary, _ = built
    cross = cross_model_summary(summary, ORDER)
    write_summary_tables(cross, ORDER, ORDER, tmp_path / "s.csv", tmp_path / "s.md", tmp_path / "s.tex")
    md = (tmp_path / "s.md").read_text()
    header, rows = _parse_md(md)
    assert header == ["Method", "truthfulqa / m: True*Info ↑", "ultrafeedback / m: RM mean ↑"]
    assert [r[0] for r in rows] == ["NoSteer", "CAA", "ODESteer"]
    csv = pd.read_csv(tmp_path / "s.csv")
    o = csv[(csv.method == "ODESteer") & (csv.task == "truthfulqa")].iloc[0]
    assert o["T"] == 5.0 and o["best_baseline"] == "CAA"
    assert f"({o['gain_pct']:+.1f}%)" in rows[2][1] and "@T=5" in rows[2][1]
    assert "@T" not in rows[1][1]  # CAA ran at one T only
    assert "PARTIAL RESULTS" in md and "ITI" in md
    assert r"\toprule" in (tmp_path / "s.tex").read_text()


def test_bad_inputs_raise_clear_errors(built):
    df, summary, out = built
    with pytest.raises(ValueError, match="lacks columns"):
        summarise(df.drop(columns=["seed"]))
    with pytest.raises(ValueError, match="no score rows"):
        summarise(df.iloc[:0])
    with pytest.raises(ValueError, match="no summary rows for task 'toxicity'"):
        write_task_tables(summary, "toxicity", ORDER, ORDER, out / "x.csv", out / "x.md", out / "x.tex")


def test_tabulate_from_files_with_a_fully_failed_run(tmp_path):
    paths = []
    for method, T, failed in [("NoSteer", 0.0, ()), ("ITI", 4.0, tuple(range(8)))]:
        paths.append(write_scores(tmp_path, "toxicity_open", "m", "toxicity", 13, method, T, 0,
                                  {"toxicity": np.linspace(0, 1, 8)}, n=8, failed=failed))
    out = tmp_path / "tables"
    summary = tabulate_scores(paths, "toxicity", ["NoSteer", "ITI", "CAA"], out / "x.csv", out / "x.md",
                       out / "x.tex", n_boot=200)
    iti = summary[summary["method"] == "ITI"].iloc[0]
    assert iti["n"] == 0 and iti["n_failed"] == 8 and iti["coverage"] == 0 and np.isnan(iti["mean"])
    header, rows = _parse_md((out / "x.md").read_text())
    assert rows[1] == ["ITI", "–", "0%"]  # shown as missing, never as a number
    md = (out / "x.md").read_text()
    assert "PARTIAL RESULTS: no scores yet for CAA" in md and "failed to score for ITI" in md
    with pytest.raises(ValueError, match="other tasks"):
        tabulate_scores(paths, "truthfulqa", ["NoSteer"], out / "y.csv", out / "y.md", out / "y.tex")


def test_tabulate_summary_from_files(built, tmp_path):
    df, _, _ = built
    root = tmp_path / "s"
    paths = _build(root)
    summaries = summarise_each_task(paths, root / "summaries", n_boot=200)
    cross = tabulate_summary(summaries, ORDER, root / "s.csv", root / "s.md", root / "s.tex")
    assert set(cross["task"]) == {"truthfulqa", "ultrafeedback"}
    assert pd.read_csv(root / "s.csv").shape[0] == len(cross)


def test_without_reference_no_win_rate_and_a_note(built, tmp_path):
    df, _, _ = built
    no_ref = df[(df["method"] != "NoSteer") & (df["task"] == "ultrafeedback")]
    summary = summarise(no_ref, n_boot=200)
    assert set(summary["metric"]) == {"reward", "reward_p90"}  # no win-rate without NoSteer
    assert summary["p_value"].isna().all() and not summary["better_than_reference"].any()
    write_task_tables(summary, "ultrafeedback", ORDER, ORDER[1:3], tmp_path / "a.csv",
                      tmp_path / "a.md", tmp_path / "a.tex")
    md = (tmp_path / "a.md").read_text()
    assert "NoSteer is missing: no paired tests or win-rates" in md
    assert "100%" in md and "0%" not in md.replace("100%", "")


def test_partial_results_note_per_model(built, tmp_path):
    _, summary, _ = built
    tq = summary[summary["task"] == "truthfulqa"]
    # A second model that so far has only NoSteer and CAA.
    other = tq[tq["method"].isin(["NoSteer", "CAA"])].assign(model="m2")
    write_task_tables(pd.concat([tq, other]), "truthfulqa", ORDER, ORDER[:3], tmp_path / "a.csv",
                      tmp_path / "a.md", tmp_path / "a.tex")
    md = (tmp_path / "a.md").read_text()
    assert "PARTIAL RESULTS: no scores yet for m2 (L13) for ODESteer (2 of 3" in md
    assert "for m (L13)" not in md
    header, rows = _parse_md(md)
    assert header[:3] == ["Model", "Method", "T"] and len(rows) == 6


def test_more_seeds_than_the_reference_and_a_losing_field(tmp_path):
    """CAA ran 3 seeds of the reference's distribution, NoSteer 1; ITI is worse. P90 is over
    responses (seed means would shrink it and fake a difference), every CAA response gets a
    win-rate (none "failed"), and NoSteer's self win-rate of 0.5 is never bold."""
    rng = np.random.default_rng(0)
    n, paths = 100, []
    runs = [("NoSteer", 0.0, 0, 0.0)] + [("CAA", 4.0, s, 0.0) for s in range(3)] + [("ITI", 4.0, 0, -0.3)]
    for method, T, seed, shift in runs:
        paths.append(write_scores(tmp_path, "reward", "m", "ultrafeedback", 13, method, T, seed,
                                  {"reward": rng.normal(shift, 1, n)}, n=n))
    out = tmp_path / "tables"
    summary = tabulate_scores(paths, "ultrafeedback", ["NoSteer", "CAA", "ITI"], out / "u.csv", out / "u.md",
                       out / "u.tex", n_boot=500)
    caa_scores = pd.concat([pd.read_json(p, lines=True) for p in paths if "/CAA/" in str(p)])["reward"]
    p90 = _cell(summary, "CAA", 4.0, "reward_p90", "ultrafeedback")
    assert p90["mean"] == pytest.approx(np.percentile(caa_scores, 90))
    assert not p90["better_than_reference"] and p90["p_value"] > 0.05
    win = _cell(summary, "CAA", 4.0, "win_rate", "ultrafeedback")
    assert win["n_failed"] == 0 and win["coverage"] == 1.0 and win["n"] == n
    header, rows = _parse_md((out / "u.md").read_text())
    cells = _numbers_from(header, rows, _md_cell)
    wins = {k[0]: v for k, v in cells.items() if k[2].startswith("Win-rate")}
    assert wins["NoSteer"][0].startswith("0.500") and not wins["NoSteer"][1]
    assert wins["CAA"][1] or wins["ITI"][1]  # the best of the steered methods is bold


def test_summary_file_reads_back_bit_for_bit(built, tmp_path):
    """Tables and plots are drawn from rule summarise's file: it must hold the very numbers
    (17 digits, NaN p-values, bools) and keep names that pandas would read as missing."""
    from steerbench.tables import SUMMARY_COLUMNS, read_summary, write_summary

    df, _, _ = built
    summary = summarise(df, n_boot=200)
    summary.loc[summary["method"] == "CAA", "method"] = "NA"  # a method id, not a missing value
    write_summary(summary, tmp_path / "s.csv")
    back = read_summary(tmp_path / "s.csv")
    pd.testing.assert_frame_equal(back, summary[SUMMARY_COLUMNS], check_exact=True)
    assert "NA" in set(back["method"]) and back["p_value"].isna().any()
    with pytest.raises(ValueError, match=r"missing\.csv.*rerun its `summarise` job"):
        read_summary(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("model,task\nm,t\n")
    with pytest.raises(ValueError, match=r"bad\.csv: not a steerbench summary, lacks columns"):
        read_summary(tmp_path / "bad.csv")
