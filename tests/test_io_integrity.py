"""Structurally broken or short input fails naming file and line; outputs honour the umask;
script failures from the OS are one line naming the path, with no secret in the log."""

from __future__ import annotations

import errno
import os
import stat
import types

import pytest

from steerbench.integrity import check_csv_structure, stamp_expected
from steerbench.io import atomic_dir, read_jsonl, write_jsonl
from steerbench.runlog import run_script
from steerbench.stages.common import read_generations
from steerbench.tasks.sources import read_csv
from steerbench.tasks.truthfulqa import REQUIRED_COLUMNS
from workflow_utils import REPO

DEMO_CSV = REPO / "resources" / "demo" / "truthfulqa" / "TruthfulQA.csv"


def _broken_csv(tmp_path, edit):
    lines = DEMO_CSV.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines[2] = edit(lines[2])
    path = tmp_path / "TruthfulQA.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_truthfulqa_csv_with_unterminated_quote_fails_naming_file_and_line(tmp_path):
    assert len(read_csv(DEMO_CSV, REQUIRED_COLUMNS)) == check_csv_structure(DEMO_CSV) > 2
    # The case: a quoted answer loses its closing quote; pandas merged two questions.
    bad = _broken_csv(tmp_path, lambda line: line.replace('for months"', "for months", 1))
    with pytest.raises(ValueError, match=rf"{bad}:3: broken CSV"):
        read_csv(bad, REQUIRED_COLUMNS)


@pytest.mark.parametrize("edit, fields", [
    (lambda line: line.rstrip("\n") + ",extra field\n", "8 fields"),
    (lambda line: line.rsplit(",", 1)[0] + "\n", "6 fields"),
])
def test_csv_row_with_too_many_or_too_few_fields_fails(tmp_path, edit, fields):
    bad = _broken_csv(tmp_path, edit)
    with pytest.raises(ValueError, match=rf"{bad}:3: {fields} where the header has 7"):
        read_csv(bad, REQUIRED_COLUMNS)


def test_jsonl_duplicate_id_fails_naming_line(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"id": "a"}, {"id": "b"}, {"id": "a"}])
    assert len(read_jsonl(path)) == 3
    with pytest.raises(ValueError, match=rf"{path}:3: duplicate id a \(first on line 1\)"):
        read_jsonl(path, unique=("id",))


def _generations(n):
    return [{"id": f"q{i}", "split": "test", "prompt": "p", "generation": f"g{i}"} for i in range(n)]


def test_generations_cut_at_a_line_boundary_are_an_error_not_full_coverage(tmp_path):
    path = tmp_path / "seed0.jsonl"
    write_jsonl(path, stamp_expected(_generations(12)))
    assert len(read_generations(path)) == 12
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:6]))  # still valid JSONL: only the count gives it away
    with pytest.raises(ValueError, match=rf"{path}: holds 6 rows but was written with 12; it was cut short"):
        read_generations(path)
    # A line repeated (a botched concatenation) is caught too, even with a matching count.
    path.write_text("".join(lines[:11] + lines[:1]))
    with pytest.raises(ValueError, match=rf"{path}:12: duplicate split/id test/q0"):
        read_generations(path)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_outputs_honour_the_umask(tmp_path, mask, file_mode, dir_mode):
    old = os.umask(mask)
    try:
        write_jsonl(tmp_path / "f.jsonl", [{"a": 1}])
        with atomic_dir(tmp_path / "d") as d:
            (d / "x").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.jsonl").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == dir_mode


def _run(tmp_path, main, monkeypatch):
    import sys

    log = tmp_path / "job.log"
    sm = types.SimpleNamespace(log=[str(log)], rule="score_x", threads=1)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with pytest.raises(SystemExit) as exc:
        run_script(sm, main)
    return exc.value.code, log.read_text()


def test_disk_full_is_one_line_naming_the_path(tmp_path, monkeypatch):
    target = tmp_path / "results" / "scores.jsonl"

    def main(sm):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    code, text = _run(tmp_path, main, monkeypatch)
    assert code == 1
    assert f"ERROR in rule score_x: {target}: No space left on device; the disk is full" in text
    assert "Traceback" not in text


def test_secrets_from_the_environment_never_reach_the_log(tmp_path, monkeypatch):
    key = "AIzaRecognisableKey-0123456789"
    monkeypatch.setenv("PERSPECTIVE_API_KEY", key)

    def main(sm):
        import logging

        print(f"GET http://x/$discovery/rest?version=v1alpha1&key={key} 503")
        logging.getLogger("googleapiclient.http").warning("retry for %s", f"http://x/?key={key}")
        raise RuntimeError(f"unexpected failure quoting {key}")  # a bug: full traceback, but redacted

    import sys

    log = tmp_path / "job.log"
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with pytest.raises(SystemExit):
        run_script(types.SimpleNamespace(log=[str(log)], rule="score_x", threads=1), main)
    text = log.read_text()
    assert "<redacted>" in text and "retry for" in text
    assert "Traceback" in text and "RuntimeError: unexpected failure quoting <redacted>" in text
    assert key not in text


def test_score_file_cut_short_never_reaches_a_table_as_full_coverage(tmp_path):
    from steerbench.results import collect

    path = tmp_path / "scores/quality/m/truthfulqa/L1/CAA/T1/seed0.jsonl"
    rows = [{"id": f"q{i}", "dist1": 0.5, "error": None} for i in range(8)]
    write_jsonl(path, stamp_expected(rows))
    assert set(collect([path])["metric"]) == {"dist1"}  # the count is no metric
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]))
    with pytest.raises(ValueError, match="holds 5 rows but was written with 8"):
        collect([path])


def test_split_file_with_a_duplicated_id_is_rejected(tmp_path):
    from steerbench.stages.common import read_split

    path = tmp_path / "test.jsonl"
    write_jsonl(path, [{"id": "a"}, {"id": "b"}, {"id": "a"}])
    with pytest.raises(ValueError, match="duplicate"):
        read_split(path)


def test_jigsaw_csv_with_unterminated_quote_fails(tmp_path):
    from steerbench.tasks.toxicity import read_jigsaw_source

    path = tmp_path / "train.csv"
    path.write_text('id,comment_text,toxicity\n1,"fine text,0.1\n2,other text,0.9\n3,more,0.2\n')
    with pytest.raises(ValueError, match=r"train.csv:2: broken CSV"):
        read_jigsaw_source(path, "tasks.toxicity.source.jigsaw")


def test_jobs_pay_for_torch_only_when_they_use_it_and_then_get_the_rules_threads(tmp_path):
    """A job without a model (a table, a download) must not import torch (~3 s each); one
    that imports torch gets the rule's thread count. A fresh interpreter, as a job is."""
    import json
    import subprocess
    import sys

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: torch's default thread count is already 1")
    threads = 1  # not torch's own default (the core count)
    out = tmp_path / "out.json"
    code = f"""
import json, sys, types
from steerbench.runlog import run_script
seen = {{}}
def light(sm):
    seen["torch_after_light"] = "torch" in sys.modules
def heavy(sm):
    import torch
    seen["threads"] = torch.get_num_threads()
for rule, main in (("tabulate", light), ("generate", heavy)):
    run_script(types.SimpleNamespace(log=[{str(tmp_path / 'job.log')!r}], rule=rule, threads={threads}), main)
open({str(out)!r}, "w").write(json.dumps(seen))
"""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(out.read_text()) == {"torch_after_light": False, "threads": threads}


def test_model_jobs_do_not_import_pandas():
    """pandas costs ~0.5 s per job; the model stages (extraction, fit, generation, scoring)
    import the tasks but read no CSV, so they must not pay it. A fresh interpreter, as a job is."""
    import subprocess
    import sys

    code = ("import sys, steerbench.stages.extract, steerbench.stages.fit_data, steerbench.stages.generate, "
            "steerbench.stages.score; print('pandas' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
