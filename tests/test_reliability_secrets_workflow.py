"""The real score_perspective job, against a loopback server that fails discovery and
analyze with 5xx/4xx and quotes the key back: no file the run writes (logs, results,
cache, .snakemake/) and nothing it prints holds the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from steerbench.integrity import stamp_expected
from steerbench.io import read_jsonl, write_jsonl
from support.perspective_server import PerspectiveServer, fake_toxicity
from workflow_utils import make_workdir, snakemake

pytestmark = pytest.mark.slow

KEY = "AIzaSy-WORKFLOW-secret-key-1b2c3d"
RUN = "smollm2/toxicity/L13/{method}/T{T}/seed0.jsonl"


def _written_files(wd: Path):
    """Every regular file under the working directory that the run could have written
    (the linked workflow, profiles and demo data are the repository's own)."""
    for root, dirs, files in os.walk(wd, followlinks=False):
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                yield path


def test_score_perspective_job_never_writes_or_prints_the_key(tmp_path):
    wd = make_workdir(tmp_path / "wd")
    cfg = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    with PerspectiveServer() as server:
        server.echo_urls = True
        cfg["tasks"]["toxicity"]["scorers"] = ["perspective", "quality"]
        cfg["scorers"]["perspective"] = {"discovery_url": server.discovery_url, "qps": 50.0,
                                         "cache": "resources/cache/perspective.sqlite"}
        (wd / "config" / "p.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        texts = [f"a generated continuation number {i}" for i in range(4)]
        for method, T in (("NoSteer", "0"), ("CAA", "1")):
            rows = [{"id": f"q{i}", "split": "test", "prompt": "p", "generation": t} for i, t in enumerate(texts)]
            write_jsonl(wd / "results" / "p" / "generations" / RUN.format(method=method, T=T), stamp_expected(rows))
        env = {"PERSPECTIVE_API_KEY": KEY}
        args = ("--cores", "1", "--allowed-rules", "score_perspective", "--configfile", "config/p.yaml")

        # 1: discovery answers 503 once, analyze 503 once: both retried, the job succeeds.
        server.fail_discovery(503)
        server.fail_next(503)
        target = "results/p/scores/perspective/" + RUN.format(method="NoSteer", T="0")
        ok = snakemake(wd, target, *args, env=env, timeout=600)
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
        assert [r["toxicity"] for r in read_jsonl(wd / target)] == pytest.approx([fake_toxicity(t) for t in texts])
        assert server.discovery_count == 2 and server.request_count == len(texts) + 1

        # 2: discovery answers 403 (a rejected key, its URL quoted back): the job fails cleanly.
        server.fail_discovery(403)
        (wd / "resources" / "cache" / "perspective.sqlite").unlink()  # so texts must be requested again
        target = "results/p/scores/perspective/" + RUN.format(method="CAA", T="1")
        bad = snakemake(wd, target, *args, env=env, timeout=600)
        assert bad.returncode != 0
        log = (wd / "logs" / "p" / "score_perspective" / RUN.format(method="CAA", T="1")).with_suffix(".log").read_text()
        assert "ERROR in rule score_perspective" in log and "HTTP 403" in log, log[-2000:]
        assert "key=<redacted>" in log

    assert KEY not in ok.stdout + ok.stderr + bad.stdout + bad.stderr
    files = list(_written_files(wd))
    assert any(".snakemake" in p.parts for p in files) and any("logs" in p.parts for p in files)
    leaks = [str(p.relative_to(wd)) for p in files if KEY.encode() in p.read_bytes()]
    assert not leaks, leaks
