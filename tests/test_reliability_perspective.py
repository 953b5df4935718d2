"""The Perspective key never leaks; the rate limit and the no-repeat rule hold across
processes; retries, backoff and timeout come from the config. Real client, loopback server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from steerbench.scoring.perspective import DEFAULTS, config_kwargs, score_perspective
from support.perspective_server import PerspectiveServer, fake_toxicity

KEY = "AIzaSy-RECOGNISABLE-test-key-7f3a9c"
FAST = dict(qps=200.0, backoff_base_s=0.01, backoff_max_s=0.02, seed=0, max_retries=2)


def _rows(n, prefix="text"):
    return [{"id": f"q{i}", "generation": f"{prefix} number {i}"} for i in range(n)]


@pytest.fixture
def server():
    with PerspectiveServer() as s:
        s.echo_urls = True  # error bodies quote the request URL, key included
        yield s


@pytest.fixture
def debug_log(tmp_path):
    """Everything any logger says, at DEBUG, into a file (as a job log would hold it)."""
    path = tmp_path / "job.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(old)
    handler.close()


def _no_key_in(*paths: Path):
    for path in paths:
        assert KEY.encode() not in path.read_bytes(), path


def test_discovery_5xx_and_4xx_never_show_the_key(server, tmp_path, debug_log):
    cache = tmp_path / "c.sqlite"
    server.fail_discovery(503, 503, 503)  # every attempt (max_retries=2) fails
    with pytest.raises(RuntimeError) as err:
        score_perspective(_rows(2), cache, keys=[KEY], discovery_url=server.discovery_url, **FAST)
    assert "HTTP 503" in str(err.value) and KEY not in str(err.value)
    assert server.discovery_count == 3
    server.fail_discovery(403)  # not retried
    with pytest.raises(RuntimeError) as err:
        score_perspective(_rows(2), cache, keys=[KEY], discovery_url=server.discovery_url, **FAST)
    assert "HTTP 403" in str(err.value) and KEY not in str(err.value)
    assert server.discovery_count == 4
    text = debug_log.read_text()
    assert "key=<redacted>" in text  # the client's URL log lines were there, redacted
    _no_key_in(debug_log, cache)


def test_analyze_errors_rows_cache_and_logs_never_show_the_key(server, tmp_path, debug_log):
    cache = tmp_path / "c.sqlite"
    rows = _rows(4)
    server.permanent_texts.add(rows[3]["generation"])
    server.fail_discovery(500)                 # retried by us, not by the client
    server.fail_next(503, None, 404, 429, 429, 429)  # text 0: 503 then ok; text 1: 404; text 2: gives up
    out = score_perspective(rows, cache, keys=[KEY], discovery_url=server.discovery_url, **FAST)
    assert out[0]["toxicity"] == pytest.approx(fake_toxicity(rows[0]["generation"]))
    errors = [o["error"] for o in out[1:]]
    assert "HTTP 404" in errors[0] and "gave up after 3 attempts" in errors[1] and "400" in errors[2]
    assert "request was" in errors[0]  # the server's echo came through, with the key cut out
    for o in out:
        assert KEY not in str(o)
    _no_key_in(debug_log, cache)
    assert "key=<redacted>" in debug_log.read_text()


_CHILD = """
import sys
from steerbench.scoring.perspective import score_perspective
texts = sys.argv[4].split("|")
rows = [{"id": f"q{i}", "generation": t} for i, t in enumerate(texts)]
out = score_perspective(rows, sys.argv[1], keys=[sys.argv[3]], discovery_url=sys.argv[2], qps=2.0, seed=0)
assert all(o["error"] is None for o in out), out
"""


def test_two_processes_on_one_key_share_the_rate_limit_and_ask_each_text_once(server, tmp_path):
    shared = [f"shared text {i}" for i in range(6)]
    mine = [["only in job A"], ["only in job B"]]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    jobs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "c.sqlite"), server.discovery_url, "k",
                              "|".join(shared + own)], env=env) for own in mine]
    for job in jobs:
        assert job.wait(timeout=120) == 0
    times = sorted(t for t, _, _ in server.request_log)
    assert len(times) == 8  # 6 shared texts once, plus one own text per job
    assert max(server.requests_per_text.values()) == 1, server.requests_per_text
    gaps = [b - a for a, b in zip(times, times[1:])]
    # qps=2 per key across both processes: consecutive requests ~0.5 s apart (timer slack allowed).
    assert min(gaps) >= 0.4, gaps
    assert (len(times) - 1) / (times[-1] - times[0]) <= 2.0 * 1.1


def test_retries_backoff_and_timeout_are_config_keys():
    assert config_kwargs({}) == DEFAULTS
    got = config_kwargs({"qps": 0.5, "max_retries": 2, "backoff_base_s": 0.5, "backoff_max_s": 8,
                         "timeout_s": 10, "cache": "x.sqlite", "key_env": "MY_KEY"})
    assert got == {"qps": 0.5, "max_retries": 2, "backoff_base_s": 0.5, "backoff_max_s": 8.0,
                   "timeout_s": 10.0, "cache": "x.sqlite", "key_env": "MY_KEY"}
    assert isinstance(got["max_retries"], int) and isinstance(got["timeout_s"], float)


def test_timeout_from_the_config_cuts_a_hung_request(server, tmp_path):
    server.hold_after(0)  # the first analyze request is never answered
    out = score_perspective(_rows(1), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url,
                            **{**FAST, "max_retries": 0}, timeout_s=0.5)
    server.release()
    assert out[0]["toxicity"] is None and "gave up after 1 attempts" in out[0]["error"]
