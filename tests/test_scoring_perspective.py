"""Perspective scoring against a local Perspective-compatible server, via the real
google-api-python-client: rate limit, retries, resume after a kill, key sharing,
permanent failures, the persistent cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from steerbench.scoring import check_coverage
from steerbench.scoring.perspective import MissingAPIKeyError, TokenBucket, score_perspective
from steerbench.scoring.perspective_cache import PerspectiveCache
from support.perspective_server import PerspectiveServer, fake_toxicity

FAST = dict(qps=200.0, backoff_base_s=0.01, backoff_max_s=0.05, seed=0)


def gen_rows(n: int, prefix: str = "text") -> list[dict]:
    return [{"id": f"q{i}", "prompt": "p", "prompt_text": "p", "generation": f"{prefix} number {i}"} for i in range(n)]


@pytest.fixture
def server():
    with PerspectiveServer() as s:
        yield s


def test_scores_come_from_the_api_and_are_cached(server, tmp_path):
    rows = gen_rows(4) + [{"id": "dup", "generation": "text number 0"}]
    out = score_perspective(rows, tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    for r, o in zip(rows, out):
        assert o["toxicity"] == pytest.approx(fake_toxicity(r["generation"]))
        assert o["error"] is None
    assert server.request_count == 4  # the duplicate text is requested once
    # A new run (another method with overlapping texts) asks only for the new ones.
    out2 = score_perspective(gen_rows(6), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert server.request_count == 6
    assert all(o["error"] is None for o in out2)
    # The cache holds the full response and a UTC timestamp.
    hit = PerspectiveCache(tmp_path / "c.sqlite").get("text number 1", ["TOXICITY"], ["en"])
    assert hit.status == 200 and hit.response["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(fake_toxicity("text number 1"))
    assert hit.obtained_at.endswith("+00:00")


def test_request_body_and_several_attributes(server, tmp_path):
    out = score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url,
                            attributes=["TOXICITY", "insult"], **FAST)
    body = server.request_bodies[0]
    assert body["comment"]["text"] == "text number 0" and body["languages"] == ["en"]
    assert set(body["requestedAttributes"]) == {"TOXICITY", "INSULT"} and body["doNotStore"] is True
    assert set(out[0]) == {"id", "toxicity", "insult", "error"}
    # Another attribute set is another cache entry: TOXICITY alone is requested anew.
    score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert server.request_count == 4


def test_rejected_key_stops_the_job(server, tmp_path):
    with pytest.raises(ValueError, match="rejected key #1"):
        score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=[""], discovery_url=server.discovery_url, **FAST)


def test_fully_cached_run_needs_no_key(server, tmp_path, monkeypatch):
    score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    monkeypatch.delenv("PERSPECTIVE_API_KEYS", raising=False)
    out = score_perspective(gen_rows(2), tmp_path / "c.sqlite", discovery_url=server.discovery_url, **FAST)
    assert [o["toxicity"] is not None for o in out] == [True, True]
    with pytest.raises(MissingAPIKeyError, match="PERSPECTIVE_API_KEY.*toxicity_open"):
        score_perspective(gen_rows(3), tmp_path / "c.sqlite", discovery_url=server.discovery_url, **FAST)


def test_rate_limit_is_respected(server, tmp_path):
    qps = 5.0
    score_perspective(gen_rows(6), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url,
                      qps=qps, seed=0)
    times = [t for t, _, _ in server.request_log]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 6
    # Token bucket with no burst: consecutive requests at least 1/qps apart (small timer slack).
    # (server-side arrival times: allow a little network/scheduling jitter per gap)
    assert min(gaps) >= 0.75 / qps, gaps
    assert times[-1] - times[0] >= 5 / qps - 0.05


def test_retries_on_429_and_5xx_then_succeed(server, tmp_path):
    server.fail_next(429, 500, 503, 429)
    out = score_perspective(gen_rows(3), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert all(o["error"] is None for o in out)
    assert [o["toxicity"] for o in out] == pytest.approx([fake_toxicity(r["generation"]) for r in gen_rows(3)])
    assert server.request_count == 3 + 4


def test_retries_exhausted_is_a_row_error_not_cached(server, tmp_path):
    server.fail_next(*[503] * 3)
    out = score_perspective(gen_rows(1), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url,
                            max_retries=2, **FAST)
    assert out[0]["toxicity"] is None and "gave up after 3 attempts" in out[0]["error"]
    # Transient failures are not cached: the next run asks again and succeeds.
    out = score_perspective(gen_rows(1), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[0]["toxicity"] == pytest.approx(fake_toxicity("text number 0"))


def test_permanent_failure_is_missing_coverage_not_a_number(server, tmp_path):
    rows = gen_rows(5)
    server.permanent_texts.add(rows[2]["generation"])
    out = score_perspective(rows, tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[2]["toxicity"] is None and "400" in out[2]["error"]
    assert server.requests_per_text[rows[2]["generation"]] == 1  # 400 is not retried
    assert sum(o["toxicity"] is not None for o in out) == 4
    with pytest.raises(ValueError, match=r"toxicity: 4/5"):
        check_coverage(out, ["toxicity"], min_coverage=0.99)
    assert check_coverage(out, ["toxicity"], min_coverage=0.8)["failed"] == {"toxicity": 1}
    # The permanent failure is cached too: a rerun does not ask again.
    again = score_perspective(rows, tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert server.request_count == 5
    assert again[2]["toxicity"] is None and "permanent failure cached" in again[2]["error"]


def test_two_keys_share_the_load(server, tmp_path):
    out = score_perspective(gen_rows(20), tmp_path / "c.sqlite", keys=["key-a", "key-b"],
                            discovery_url=server.discovery_url, qps=50.0, seed=0)
    assert all(o["error"] is None for o in out)
    assert set(server.requests_per_key) == {"key-a", "key-b"}
    assert min(server.requests_per_key.values()) >= 5, server.requests_per_key
    assert sum(server.requests_per_key.values()) == 20


def test_keys_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PERSPECTIVE_API_KEYS", "env-a, env-b")
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "env-c")
    score_perspective(gen_rows(12), tmp_path / "c.sqlite", discovery_url=server.discovery_url, qps=50.0)
    assert set(server.requests_per_key) == {"env-a", "env-b", "env-c"}


_CHILD = """
import sys
from steerbench.scoring.perspective import score_perspective
rows = [{"id": f"q{i}", "generation": f"text number {i}"} for i in range(int(sys.argv[3]))]
score_perspective(rows, sys.argv[1], keys=["k"], discovery_url=sys.argv[2], qps=200.0)
"""


def test_killed_run_resumes_without_requesting_a_text_twice(server, tmp_path):
    cache = tmp_path / "c.sqlite"
    n, n_before_kill = 12, 5
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    server.hold_after(n_before_kill)  # the child gets 5 answers, then waits forever
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(cache), server.discovery_url, str(n)], env=env)
    try:
        deadline = time.monotonic() + 60
        while server.request_count <= n_before_kill and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    server.release()
    answered = sum(server.successes_per_text.values())
    assert answered == n_before_kill, "the child must have been killed mid-run"
    assert len(PerspectiveCache(cache)) == answered  # every answer was committed at once
    out = score_perspective(gen_rows(n), cache, keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert all(o["error"] is None for o in out)
    # Every text got exactly one successful answer across both runs.
    assert sorted(server.successes_per_text.values()) == [1] * n
    assert set(server.successes_per_text) == {r["generation"] for r in gen_rows(n)}


def test_cache_is_shared_by_concurrent_writers(tmp_path):
    path = tmp_path / "shared.sqlite"
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            db = PerspectiveCache(path, busy_timeout_s=30)
            for i in range(40):
                db.put(f"w{w} t{i}", ["TOXICITY"], ["en"], 200, {"attributeScores": {}})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(PerspectiveCache(path)) == 160


def test_token_bucket_rate_with_fake_clock():
    now = [0.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])
    bucket.acquire()  # the first token is there at once
    assert bucket.tokens == pytest.approx(0.0)
    now[0] = 0.5  # half a second at 2 QPS: exactly one more token
    bucket.acquire()
    assert bucket.tokens == pytest.approx(0.0)
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(0)


def test_bad_cache_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_text("not a database " * 100)
    with pytest.raises(ValueError, match="not a usable SQLite cache"):
        PerspectiveCache(bad)


def test_dropped_connections_are_retried(server, tmp_path):
    # hold_after(0) + release: the first request is dropped unanswered, as by a flaky network.
    server.hold_after(0)
    threading.Timer(0.3, server.release).start()
    out = score_perspective(gen_rows(1), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[0]["toxicity"] == pytest.approx(fake_toxicity("text number 0"))
    assert server.request_count == 2


def test_unreachable_discovery_url_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="building the Perspective client"):
        score_perspective(gen_rows(1), tmp_path / "c.sqlite", keys=["k"],
                          discovery_url="http://127.0.0.1:9/$discovery/rest?version=v1alpha1", **FAST)


def test_truncated_answers_and_timeouts_are_retried_other_4xx_not_cached(server, tmp_path):
    from support.perspective_server import TRUNCATED

    # A body cut short (http.client.IncompleteRead, not an OSError) and a 408 are transient.
    server.fail_next(TRUNCATED, 408)
    out = score_perspective(gen_rows(1), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[0]["error"] is None and out[0]["toxicity"] == pytest.approx(fake_toxicity("text number 0"))
    assert server.request_count == 3
    # A 404 (a proxy in the way, say) is reported, but only a 400 is cached as permanent:
    # the rerun asks again and gets the score.
    server.fail_next(404)
    out = score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[1]["toxicity"] is None and "404" in out[1]["error"]
    out = score_perspective(gen_rows(2), tmp_path / "c.sqlite", keys=["k"], discovery_url=server.discovery_url, **FAST)
    assert out[1]["error"] is None and out[1]["toxicity"] == pytest.approx(fake_toxicity("text number 1"))
