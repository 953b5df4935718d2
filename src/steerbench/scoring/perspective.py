"""Toxicity from the Perspective API, through the real google-api-python-client.

Keys come from environment variables; requests are spread over the keys, one worker per
key, each held to a token-bucket rate limit (default 1 QPS, the API's default quota).
HTTP 429 / 5xx and transport errors are retried with exponential backoff and jitter;
HTTP 400 (empty text, unsupported language) is permanent: the row keeps its error and no
number. Every answer goes to a persistent SQLite cache at once, so a rerun, a new method
with overlapping texts, or a killed job never asks for a text twice.

Several jobs may score at once (separate processes, even separate working directories
sharing the cache file): the rate limit is a token bucket per key kept in the cache file,
and each text is looked up in the cache again, and claimed, just before it is requested.

The key travels in the request URL (`?key=...`), so the client's own log records, its
exception texts and every message built from them are redacted before they reach a log,
a score row, the cache or an exception.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import re
import threading
import time
from typing import Callable, Sequence

from .perspective_cache import PerspectiveCache, claim_owner
from ._util import check_rows, progress

log = logging.getLogger(__name__)

DISCOVERY_URL = "https://commentanalyzer.googleapis.com/$discovery/rest?version=v1alpha1"
KEY_ENV = "PERSPECTIVE_API_KEY"
KEYS_ENV = "PERSPECTIVE_API_KEYS"  # several keys, comma-separated


# Retry policy and timeout: config keys scorers.perspective.<name> (see config_kwargs).
DEFAULTS = {"qps": 1.0, "max_retries": 6, "backoff_base_s": 1.0, "backoff_max_s": 64.0, "timeout_s": 60.0}

REDACTED = "<redacted>"
# A credential in a URL's query string, whatever the key's value.
_URL_SECRET = re.compile(r"(?i)([?&](?:key|api_key|apikey|access_token)=)[^&#\s'\"]+")


class MissingAPIKeyError(ValueError):
    pass


def config_kwargs(cfg: dict) -> dict:
    """score_perspective's keyword arguments from a `scorers.perspective` config block."""
    out = {name: type(default)(cfg.get(name, default)) for name, default in DEFAULTS.items()}
    for name in ("cache", "attributes", "key_env", "discovery_url"):
        if cfg.get(name):
            out[name] = cfg[name]
    return out


def redact(text: object, secrets=()) -> str:
    """`text` with every secret and every `key=` URL parameter replaced by <redacted>."""
    text = _URL_SECRET.sub(r"\1" + REDACTED, str(text))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites records of google-api-python-client, whose retry warnings and debug lines
    carry the request URL and so the key."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        return True


_CLIENT_LOGGERS = ("googleapiclient", "googleapiclient.http", "googleapiclient.discovery",
                   "googleapiclient.discovery_cache", "httplib2")


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
    return redact(f"HTTP {_http_status(err)}: {reason}".strip())


def build_client(key: str, discovery_url: str = DISCOVERY_URL, timeout_s: float = 60.0):
    """A commentanalyzer v1alpha1 client (discovery document fetched from discovery_url).

    One attempt: the client's own retries log the URL with the key, so build_with_retries
    retries instead."""
    import httplib2
    from googleapiclient import discovery

    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=discovery_url,
        static_discovery=False,
        cache_discovery=False,
        num_retries=0,
        http=httplib2.Http(timeout=timeout_s),
    )


def _is_transient(err: Exception) -> bool:
    from http.client import HTTPException

    from googleapiclient.errors import HttpError
    from httplib2 import HttpLib2Error

    if isinstance(err, HttpError):
        status = _http_status(err)
        return status is not None and (status in (408, 429) or status >= 500)
    return isinstance(err, (OSError, HttpLib2Error, HTTPException))


def build_with_retries(key: str, discovery_url: str, timeout_s: float, max_retries: int,
                       backoff_base_s: float, backoff_max_s: float, rng: random.Random):
    """build_client, retried on 429/5xx and transport errors like an analyze call.
    Raises RuntimeError with a redacted message when it cannot."""
    for attempt in range(max_retries + 1):
        try:
            return build_client(key, discovery_url, timeout_s)
        except Exception as e:  # noqa: BLE001 - classified, and redacted, below
            message = redact(_http_message(e) if _http_status(e) else f"{type(e).__name__}: {e}", [key])
            if not _is_transient(e) or attempt == max_retries:
                raise RuntimeError(f"fetching the Perspective discovery document from "
                                   f"{redact(discovery_url, [key])} failed after {attempt + 1} attempt(s): {message}") from None
        delay = min(backoff_max_s, backoff_base_s * 2**attempt) * rng.uniform(0.5, 1.5)
        log.info("perspective: discovery %s; retry %d/%d in %.2fs", message, attempt + 1, max_retries, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")


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
            last = redact(f"{type(e).__name__}: {e}")
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
    qps: float = DEFAULTS["qps"],
    attributes: Sequence[str] = ("TOXICITY",),
    languages: Sequence[str] = ("en",),
    max_retries: int = DEFAULTS["max_retries"],
    backoff_base_s: float = DEFAULTS["backoff_base_s"],
    backoff_max_s: float = DEFAULTS["backoff_max_s"],
    timeout_s: float = DEFAULTS["timeout_s"],
    do_not_store: bool = True,
    seed: int | None = None,
) -> list[dict]:
    """One row {"id", "toxicity" (+ other attributes, lower-cased), "error"} per generation row.

    keys=None reads them from the environment ($keys_env, then $key_env); a key is only
    needed when some text is not cached yet. discovery_url=None: Google's endpoint.
    `qps` is the limit per key, shared by every process using the same cache file.
    """
    check_rows(rows, ("id", "generation"), "score_perspective")
    attributes = [a.upper() for a in attributes]
    if not attributes:
        raise ValueError("attributes is empty; request at least TOXICITY")
    if qps <= 0:
        raise ValueError(f"qps must be > 0, got {qps}")
    languages = list(languages)
    discovery_url = discovery_url or DISCOVERY_URL
    db = cache if isinstance(cache, PerspectiveCache) else PerspectiveCache(cache)

    answers: dict[str, tuple[dict | None, str | None]] = {}  # text -> (response, error)
    todo: list[str] = []
    for text in dict.fromkeys(r["generation"] for r in rows):
        if not text.strip():
            answers[text] = (None, "empty generation: Perspective cannot score empty text")
            continue
        cached = _cached_answer(db, text, attributes, languages)
        if cached is None:
            todo.append(text)
        else:
            answers[text] = cached
    log.info("perspective: %d distinct texts, %d answered from the cache (or empty), %d to request",
             len(answers) + len(todo), len(answers), len(todo))

    if todo:
        keys = list(keys) if keys is not None else api_keys(key_env, keys_env)
        if not keys:
            raise _missing_key_error(key_env, keys_env, len(todo))
        redactor = _RedactingFilter(keys)
        loggers = [logging.getLogger(name) for name in _CLIENT_LOGGERS]
        for lg in loggers:
            lg.addFilter(redactor)
        try:
            answers.update(_request_all(todo, keys, db, discovery_url, qps, attributes, languages,
                                        max_retries, backoff_base_s, backoff_max_s, timeout_s,
                                        do_not_store, seed))
        except Exception as e:
            # Whatever went wrong, its message must not carry a key into a log or traceback.
            raise type(e)(redact(e, keys)) if isinstance(e, (ValueError, RuntimeError)) else \
                RuntimeError(redact(f"{type(e).__name__}: {e}", keys)) from None
        finally:
            for lg in loggers:
                lg.removeFilter(redactor)
    return [_row(r["id"], *answers[r["generation"]], attributes) for r in rows]


def _cached_answer(db: PerspectiveCache, text: str, attributes, languages) -> tuple[dict | None, str | None] | None:
    hit = db.get(text, attributes, languages)
    if hit is None:
        return None
    if hit.status == 200:
        return hit.response, None
    return None, f"permanent failure cached on {hit.obtained_at}: {hit.error}"


class SharedTokenBucket:
    """The per-key token bucket kept in the cache file: the limit holds across processes."""

    def __init__(self, db: PerspectiveCache, key: str, qps: float):
        self.db, self.key, self.qps = db, key, float(qps)

    def acquire(self) -> None:
        while (wait := self.db.take_token(self.key, self.qps)) > 0:
            time.sleep(wait)


def _request_all(texts, keys, db, discovery_url, qps, attributes, languages, max_retries,
                 backoff_base_s, backoff_max_s, timeout_s, do_not_store, seed) -> dict:
    work: queue.Queue[str] = queue.Queue()
    for t in texts:
        work.put(t)
    results: dict[str, tuple[dict | None, str | None]] = {}
    fatal: list[BaseException] = []
    lock = threading.Lock()
    bar = progress(len(texts), "perspective", "text")
    # A claim outlives one request with all its retries; a killed job's claims lapse then.
    claim_ttl = (max_retries + 1) * (timeout_s + backoff_max_s) + 10.0

    def worker(index: int, key: str) -> None:
        rng = random.Random(None if seed is None else seed + index)
        owner = claim_owner(index)
        bucket = SharedTokenBucket(db, key, qps)
        try:
            client = build_with_retries(key, discovery_url, timeout_s, max_retries, backoff_base_s,
                                        backoff_max_s, rng)
        except Exception as e:  # noqa: BLE001 - reported once, with the key's position
            fatal.append(RuntimeError(f"building the Perspective client for key #{index + 1} failed: {redact(e, keys)}"))
            return
        waiting: dict[str, float] = {}  # text claimed by another job -> when to look again
        while not fatal:
            try:
                text = work.get_nowait()
            except queue.Empty:
                return
            # Another job may be asking for this text now (its claim), or have answered it
            # since this one started (the cache, read after claiming so no answer slips by).
            if not db.claim(text, attributes, languages, owner, claim_ttl):
                time.sleep(max(0.0, waiting.get(text, 0.0) - time.monotonic()))
                waiting[text] = time.monotonic() + 0.2
                work.put(text)
                continue
            cached = _cached_answer(db, text, attributes, languages)
            if cached is not None:
                db.release(text, attributes, languages, owner)
                with lock:
                    results[text] = cached
                    bar.update(1)
                continue
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
                    fatal.append(ValueError(f"Perspective rejected key #{index + 1} ({redact(e, keys)}); check the key in the environment"))
                    return
                if e.status == 400:  # the text itself is refused: asking again gives the same
                    db.put(text, attributes, languages, e.status, redact(e, keys))
                result = (None, f"permanent failure: {redact(e, keys)}")
            except RuntimeError as e:  # transient errors outlived the retries: not cached
                result = (None, redact(e, keys))
            except Exception as e:  # noqa: BLE001 - one text's failure must not stop the worker
                result = (None, redact(f"{type(e).__name__}: {e}", keys))
            finally:
                db.release(text, attributes, languages, owner)
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

    kwargs = config_kwargs(job.cfg)
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
            "qps": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULTS["qps"]},
            "max_retries": {"type": "integer", "minimum": 0, "default": DEFAULTS["max_retries"]},
            "backoff_base_s": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULTS["backoff_base_s"]},
            "backoff_max_s": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULTS["backoff_max_s"]},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULTS["timeout_s"]},
            "cache": {"type": "string", "default": "resources/cache/perspective.sqlite"},
            "attributes": {"type": "array", "items": {"type": "string"}, "default": ["TOXICITY"]},
        },
        resources={"mem_mb": 2000, "runtime": 600},
        # The per-key rate limit itself is a token bucket shared through the cache file
        # (perspective_cache); this resource only keeps Snakemake from starting many jobs
        # that would wait on it.
        rate_limit="perspective_api",
    )


SPEC = _spec()
