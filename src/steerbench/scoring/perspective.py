"""Toxicity from the Perspective API, through the real google-api-python-client.

Keys come from environment variables; requests are spread over the keys, one worker per
key, each held to a token-bucket rate limit (default 1 QPS, the API's default quota).
HTTP 429 / 5xx and transport errors are retried with exponential backoff and jitter;
HTTP 400 (empty text, unsupported language) is permanent: the row keeps its error and no
number. Every answer goes to a persistent SQLite cache at once, so a rerun, a new method
with overlapping texts, or a killed job never asks for a text twice.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from typing import Callable, Sequence

from .perspective_cache import PerspectiveCache
from ._util import check_rows, progress

log = logging.getLogger(__name__)

DISCOVERY_URL = "https://commentanalyzer.googleapis.com/$discovery/rest?version=v1alpha1"
KEY_ENV = "PERSPECTIVE_API_KEY"
KEYS_ENV = "PERSPECTIVE_API_KEYS"  # several keys, comma-separated


class MissingAPIKeyError(ValueError):
    pass


def api_keys(key_env: str = KEY_ENV, keys_env: str = KEYS_ENV) -> list[str]:
    """Keys from $keys_env (comma-separated) and $key_env, deduplicated, in that order."""
    keys = [k.strip() for k in os.environ.get(keys_env, "").split(",") if k.strip()]
    single = os.environ.get(key_env, "").strip()
    if single:
        keys.append(single)
    return list(dict.fromkeys(keys))


def _missing_key_error(key_env: str, keys_env: str, n: int) -> MissingAPIKeyError:
    return MissingAPIKeyError(
        f"{n} text(s) need a Perspective API score but no key is set: export {key_env}=<key> "
        f"(or {keys_env}=<key1>,<key2> to spread requests over several keys). Google takes no "
        f"new keys and shuts the API down on 2026-12-31; without a key use the offline scorer "
        f"'toxicity_open' instead (tasks.toxicity.scorers in the config)"
    )


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts up to `capacity`."""

    def __init__(self, rate: float, capacity: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError(f"qps must be > 0, got {rate}")
        self.rate, self.capacity, self.clock = float(rate), float(capacity), clock
        self.tokens = self.capacity
        self.last = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                wait = (1.0 - self.tokens) / self.rate
            time.sleep(wait)


class PermanentError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _http_status(err: Exception) -> int | None:
    resp = getattr(err, "resp", None)
    status = getattr(resp, "status", None)
    return int(status) if status is not None else None


def _http_message(err: Exception) -> str:
    reason = getattr(err, "reason", None) or ""
    return f"HTTP {_http_status(err)}: {reason}".strip()


def build_client(key: str, discovery_url: str = DISCOVERY_URL, timeout_s: float = 60.0):
    """A commentanalyzer v1alpha1 client (discovery document fetched from discovery_url)."""
    import httplib2
    from googleapiclient import discovery

    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=discovery_url,
        static_discovery=False,
        cache_discovery=False,
        http=httplib2.Http(timeout=timeout_s),
    )


def analyze_with_retries(client, body: dict, bucket: TokenBucket, max_retries: int = 6,
                         backoff_base_s: float = 1.0, backoff_max_s: float = 64.0,
                         rng: random.Random | None = None) -> dict:
    """One analyze call, rate-limited; retried on 429/5xx/transport errors.

    Raises PermanentError on other HTTP errors (400: bad text) and RuntimeError once the
    retries are used up.
    """
    from http.client import HTTPException

    from googleapiclient.errors import HttpError
    from httplib2 import HttpLib2Error

    rng = rng or random.Random()
    last = ""
    for attempt in range(max_retries + 1):
        bucket.acquire()
        try:
            return client.comments().analyze(body=body).execute(num_retries=0)
        except HttpError as e:
            status = _http_status(e)
            if status is None or not (status in (408, 429) or status >= 500):
                raise PermanentError(status or 0, _http_message(e)) from None
            last = _http_message(e)
        # Socket errors, timeouts, refused or dropped connections, truncated answers
        # (http.client's IncompleteRead / BadStatusLine are not OSErrors).
        except (OSError, HttpLib2Error, HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        if attempt < max_retries:
            # Full-range jitter keeps several workers from retrying in lockstep.
            delay = min(backoff_max_s, backoff_base_s * 2**attempt) * rng.uniform(0.5, 1.5)
            log.info("perspective: %s; retry %d/%d in %.2fs", last, attempt + 1, max_retries, delay)
            time.sleep(delay)
    raise RuntimeError(f"gave up after {max_retries + 1} attempts, last error: {last}")


def _row(item_id, response: dict | None, error: str | None, attributes: Sequence[str]) -> dict:
    row: dict = {"id": item_id}
    for attr in attributes:
        value = None
        if response is not None:
            try:
                value = float(response["attributeScores"][attr]["summaryScore"]["value"])
            except (KeyError, TypeError, ValueError):
                error = error or f"response lacks attributeScores.{attr}.summaryScore.value"
        row[attr.lower()] = value
    row["error"] = error
    return row


def score_perspective(
    rows: Sequence[dict],
    cache: str | os.PathLike | PerspectiveCache,
    keys: Sequence[str] | None = None,
    key_env: str = KEY_ENV,
    keys_env: str = KEYS_ENV,
    discovery_url: str | None = None,
    qps: float = 1.0,
    attributes: Sequence[str] = ("TOXICITY",),
    languages: Sequence[str] = ("en",),
    max_retries: int = 6,
    backoff_base_s: float = 1.0,
    backoff_max_s: float = 64.0,
    timeout_s: float = 60.0,
    do_not_store: bool = True,
    seed: int | None = None,
) -> list[dict]:
    """One row {"id", "toxicity" (+ other attributes, lower-cased), "error"} per generation row.

    keys=None reads them from the environment ($keys_env, then $key_env); a key is only
    needed when some text is not cached yet. discovery_url=None: Google's endpoint.
    """
    check_rows(rows, ("id", "generation"), "score_perspective")
    attributes = [a.upper() for a in attributes]
    if not attributes:
        raise ValueError("attributes is empty; request at least TOXICITY")
    languages = list(languages)
    discovery_url = discovery_url or DISCOVERY_URL
    db = cache if isinstance(cache, PerspectiveCache) else PerspectiveCache(cache)

    answers: dict[str, tuple[dict | None, str | None]] = {}  # text -> (response, error)
    todo: list[str] = []
    for text in dict.fromkeys(r["generation"] for r in rows):
        if not text.strip():
            answers[text] = (None, "empty generation: Perspective cannot score empty text")
            continue
        hit = db.get(text, attributes, languages)
        if hit is None:
            todo.append(text)
        elif hit.status == 200:
            answers[text] = (hit.response, None)
        else:
            answers[text] = (None, f"permanent failure cached on {hit.obtained_at}: {hit.error}")
    log.info("perspective: %d distinct texts, %d answered from the cache (or empty), %d to request",
             len(answers) + len(todo), len(answers), len(todo))

    if todo:
        keys = list(keys) if keys is not None else api_keys(key_env, keys_env)
        if not keys:
            raise _missing_key_error(key_env, keys_env, len(todo))
        answers.update(_request_all(todo, keys, db, discovery_url, qps, attributes, languages,
                                    max_retries, backoff_base_s, backoff_max_s, timeout_s,
                                    do_not_store, seed))
    return [_row(r["id"], *answers[r["generation"]], attributes) for r in rows]


def _request_all(texts, keys, db, discovery_url, qps, attributes, languages, max_retries,
                 backoff_base_s, backoff_max_s, timeout_s, do_not_store, seed) -> dict:
    work: queue.Queue[str] = queue.Queue()
    for t in texts:
        work.put(t)
    results: dict[str, tuple[dict | None, str | None]] = {}
    fatal: list[BaseException] = []
    lock = threading.Lock()
    bar = progress(len(texts), "perspective", "text")

    def worker(index: int, key: str) -> None:
        rng = random.Random(None if seed is None else seed + index)
        bucket = TokenBucket(qps)
        try:
            client = build_client(key, discovery_url, timeout_s)
        except Exception as e:  # noqa: BLE001 - reported once, with the key's position
            fatal.append(RuntimeError(f"building the Perspective client for key #{index + 1} from {discovery_url} failed: {e}"))
            return
        while not fatal:
            try:
                text = work.get_nowait()
            except queue.Empty:
                return
            body = {"comment": {"text": text}, "languages": languages,
                    "requestedAttributes": {a: {} for a in attributes}}
            if do_not_store:
                body["doNotStore"] = True
            try:
                response = analyze_with_retries(client, body, bucket, max_retries,
                                                backoff_base_s, backoff_max_s, rng)
                db.put(text, attributes, languages, 200, response)
                result = (response, None)
            except PermanentError as e:
                if e.status in (401, 403):
                    fatal.append(ValueError(f"Perspective rejected key #{index + 1} ({e}); check the key in the environment"))
                    return
                if e.status == 400:  # the text itself is refused: asking again gives the same
                    db.put(text, attributes, languages, e.status, str(e))
                result = (None, f"permanent failure: {e}")
            except RuntimeError as e:  # transient errors outlived the retries: not cached
                result = (None, str(e))
            except Exception as e:  # noqa: BLE001 - one text's failure must not stop the worker
                result = (None, f"{type(e).__name__}: {e}")
            with lock:
                results[text] = result
                bar.update(1)

    threads = [threading.Thread(target=worker, args=(i, k), daemon=True) for i, k in enumerate(keys)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    if fatal:
        raise fatal[0]
    # A worker that died early leaves its texts unanswered; they count as failures.
    for text in texts:
        results.setdefault(text, (None, "not requested: every Perspective worker stopped"))
    return results


# --- the scorer spec (steerbench.scoring.registry) ---------------------------------------

def _score_job(job) -> list[dict]:
    from pathlib import Path

    cfg = job.cfg
    kwargs = {"cache": cfg["cache"], "qps": cfg["qps"], "attributes": cfg["attributes"], "key_env": cfg["key_env"]}
    if cfg.get("discovery_url"):
        kwargs["discovery_url"] = cfg["discovery_url"]
    Path(kwargs["cache"]).parent.mkdir(parents=True, exist_ok=True)
    return score_perspective(job.generation_rows(), **kwargs)


def _spec():
    from steerbench.metrics import MetricSpec

    from .registry import ScorerSpec

    return ScorerSpec(
        name="perspective",
        score=_score_job,
        raw_metrics=("toxicity",),
        table_metrics=(MetricSpec("toxicity_perspective", "Toxicity (perspective)", (("perspective", "toxicity"),),
                                  "mean", False),),
        column_rank=50,
        settings={
            "discovery_url": {"type": "string"},
            "key_env": {"type": "string", "default": KEY_ENV},
            "qps": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
            "cache": {"type": "string", "default": "resources/cache/perspective.sqlite"},
            "attributes": {"type": "array", "items": {"type": "string"}, "default": ["TOXICITY"]},
        },
        resources={"mem_mb": 2000, "runtime": 600},
        # One shared quota: Perspective jobs run one at a time against the per-key rate limit.
        rate_limit="perspective_api",
    )


SPEC = _spec()
