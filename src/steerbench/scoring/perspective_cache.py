"""A persistent SQLite cache of Perspective API responses, shared by concurrent jobs.

Keyed by sha256(text) + requested attributes + languages, it stores the full response
JSON and the UTC time it was obtained (Perspective's model changed over the years without
versioning, so a score is only meaningful with its date). Permanent failures (HTTP 400:
empty text, unsupported language) are stored too, so they are not re-requested either.
WAL mode and a busy timeout let several scoring jobs read and write the same file.

The same file coordinates concurrent jobs: a token bucket per API key (keyed by a hash of
the key, never the key) holds the rate limit across every process that uses the file, and
a claim per text keeps two jobs from requesting the same text at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    text_sha256 TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    languages   TEXT NOT NULL,
    status      INTEGER NOT NULL,      -- 200: response holds the API answer; else a permanent failure
    response    TEXT NOT NULL,         -- the response JSON, or the error message
    obtained_at TEXT NOT NULL,         -- ISO 8601 UTC
    PRIMARY KEY (text_sha256, attributes, languages)
);
CREATE TABLE IF NOT EXISTS rate_buckets (
    key_sha256  TEXT PRIMARY KEY,      -- sha256 of the API key: the key itself is never stored
    tokens      REAL NOT NULL,
    updated_at  REAL NOT NULL          -- time.time() of the last refill
);
CREATE TABLE IF NOT EXISTS claims (
    text_sha256 TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    languages   TEXT NOT NULL,
    owner       TEXT NOT NULL,         -- host:pid:thread of the requesting worker
    expires_at  REAL NOT NULL,         -- a killed job's claim lapses at this time.time()
    PRIMARY KEY (text_sha256, attributes, languages)
)
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_hash(key: str) -> str:
    return hashlib.sha256(("perspective-api-key:" + key).encode("utf-8")).hexdigest()


def _attrs(attributes: Sequence[str]) -> str:
    return ",".join(sorted(a.upper() for a in attributes))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def claim_owner(worker: int) -> str:
    """host:pid:worker, so a claim left by a killed job on this host is seen to be dead."""
    return f"{socket.gethostname()}:{os.getpid()}:{worker}"


def _owner_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's job: only its claim's expiry frees the text
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class CachedResponse:
    status: int
    response: dict | None  # the API's JSON answer when status == 200
    error: str | None      # the failure message otherwise
    obtained_at: str


class PerspectiveCache:
    """Thread-safe; one connection per thread (sqlite3 connections must not be shared)."""

    def __init__(self, path: str | os.PathLike, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database
        # is locked" at once (no busy handler) while another job does the same: retry that
        # until the busy timeout, as the handler would.
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                conn = self._conn()
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as e:
                if "locked" in str(e) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                error = e
            except sqlite3.DatabaseError as e:
                error = e
            raise ValueError(
                f"{self.path}: not a usable SQLite cache ({error}); move it away or point "
                f"scorers.perspective.cache at another file"
            ) from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, text: str, attributes: Sequence[str], languages: Sequence[str]) -> CachedResponse | None:
        row = self._conn().execute(
            "SELECT status, response, obtained_at FROM responses "
            "WHERE text_sha256=? AND attributes=? AND languages=?",
            (text_hash(text), _attrs(attributes), ",".join(languages)),
        ).fetchone()
        if row is None:
            return None
        status, body, when = row
        if status == 200:
            return CachedResponse(200, json.loads(body), None, when)
        return CachedResponse(status, None, body, when)

    def put(self, text: str, attributes: Sequence[str], languages: Sequence[str], status: int,
            response: dict | str, obtained_at: str | None = None) -> None:
        """Store one answer; committed at once so a killed job loses at most the request in flight."""
        body = json.dumps(response) if status == 200 else str(response)
        self._conn().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (text_hash(text), _attrs(attributes), ",".join(languages), int(status), body,
             obtained_at or utc_now()),
        )

    # -- coordination between jobs ----------------------------------------------------
    def _immediate(self):
        """A write transaction taken at once, so read-modify-write steps of several
        processes cannot interleave."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        return conn

    def take_token(self, key: str, qps: float, capacity: float = 1.0) -> float:
        """Take one request token of `key`'s shared bucket: 0.0 when taken, else the seconds
        to wait before asking again. Every process using this file shares the bucket."""
        conn = self._immediate()
        try:
            now = time.time()
            row = conn.execute("SELECT tokens, updated_at FROM rate_buckets WHERE key_sha256=?",
                               (key_hash(key),)).fetchone()
            tokens, last = (capacity, now) if row is None else row
            # A clock set back must not freeze the bucket.
            tokens = min(capacity, tokens + max(0.0, now - last) * qps)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / qps
            if wait == 0.0:
                tokens -= 1.0
            conn.execute("INSERT OR REPLACE INTO rate_buckets VALUES (?, ?, ?)", (key_hash(key), tokens, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return wait

    def claim(self, text: str, attributes: Sequence[str], languages: Sequence[str], owner: str,
              ttl_s: float) -> bool:
        """Claim `text` for one request (True), unless another live worker holds it."""
        ident = (text_hash(text), _attrs(attributes), ",".join(languages))
        conn = self._immediate()
        try:
            now = time.time()
            row = conn.execute("SELECT owner, expires_at FROM claims WHERE text_sha256=? AND "
                               "attributes=? AND languages=?", ident).fetchone()
            free = row is None or row[0] == owner or row[1] < now or _owner_dead(row[0])
            if free:
                conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)", (*ident, owner, now + ttl_s))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return free

    def release(self, text: str, attributes: Sequence[str], languages: Sequence[str], owner: str) -> None:
        self._conn().execute(
            "DELETE FROM claims WHERE text_sha256=? AND attributes=? AND languages=? AND owner=?",
            (text_hash(text), _attrs(attributes), ",".join(languages), owner))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
