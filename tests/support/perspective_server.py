"""A Perspective-compatible HTTP server on 127.0.0.1 for tests (and workflow tests).

It serves a commentanalyzer v1alpha1 discovery document whose rootUrl points back at
itself, and `POST /v1alpha1/comments:analyze`. Scores are a deterministic function of the
text (`fake_toxicity`), so tests can assert exact values. Failures can be injected:
`fail_next(429, 500)` answers the next analyze requests with those statuses, and
`permanent_texts` get HTTP 400 (as the API does for unsupported languages). `hold()`
makes analyze requests block until `release()`, to kill a client mid-run.
`fail_discovery(503, 403)` does the same for discovery requests. With `echo_urls`, error
answers quote the request URL (key included), as a careless proxy might, so tests can
check that nothing the server says carries the key into a log.

    server = PerspectiveServer().start()
    client env: discovery_url=server.discovery_url, any key string
    server.request_count, server.requests_per_key, server.successes_per_text
    server.stop()
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ANALYZE_PATH = "/v1alpha1/comments:analyze"


TRUNCATED = -1  # fail_next() value: a 200 answer whose connection drops mid-body


def fake_toxicity(text: str) -> float:
    """A deterministic score in [0, 1) from the text's hash."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def discovery_document(root_url: str) -> dict:
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "commentanalyzer:v1alpha1",
        "name": "commentanalyzer",
        "version": "v1alpha1",
        "title": "Perspective Comment Analyzer API (local test double)",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": {
            "key": {"type": "string", "location": "query", "description": "API key"},
            "alt": {"type": "string", "location": "query", "default": "json", "enum": ["json"]},
        },
        "schemas": {
            "AnalyzeCommentRequest": {"id": "AnalyzeCommentRequest", "type": "object", "properties": {
                "comment": {"type": "object"}, "languages": {"type": "array", "items": {"type": "string"}},
                "requestedAttributes": {"type": "object"}, "doNotStore": {"type": "boolean"}}},
            "AnalyzeCommentResponse": {"id": "AnalyzeCommentResponse", "type": "object", "properties": {
                "attributeScores": {"type": "object"}, "languages": {"type": "array", "items": {"type": "string"}}}},
        },
        "resources": {"comments": {"methods": {"analyze": {
            "id": "commentanalyzer.comments.analyze",
            "path": "v1alpha1/comments:analyze",
            "flatPath": "v1alpha1/comments:analyze",
            "httpMethod": "POST",
            "parameters": {},
            "parameterOrder": [],
            "request": {"$ref": "AnalyzeCommentRequest"},
            "response": {"$ref": "AnalyzeCommentResponse"},
        }}}},
    }


class PerspectiveServer:
    def __init__(self, score_fn=fake_toxicity):
        self.score_fn = score_fn
        self.lock = threading.Lock()
        self.injected: list[int] = []
        self.injected_discovery: list[int] = []
        self.echo_urls = False
        self.permanent_texts: set[str] = set()
        self.request_count = 0                  # analyze requests received (any outcome)
        self.discovery_count = 0
        self.requests_per_key: Counter[str] = Counter()
        self.requests_per_text: Counter[str] = Counter()
        self.successes_per_text: Counter[str] = Counter()  # 200 answers delivered
        self.request_log: list[tuple[float, str, str]] = []  # (monotonic time, key, text)
        self.request_bodies: list[dict] = []
        self._released = threading.Event()
        self._released.set()
        self._hold_after: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------
    def start(self) -> "PerspectiveServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: dict) -> bool:
                """True when the answer reached the client (False: it hung up, e.g. was killed)."""
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return False
                return True

            def do_GET(self):
                if urlparse(self.path).path.startswith("/$discovery/rest"):
                    with server.lock:
                        server.discovery_count += 1
                        status = server.injected_discovery.pop(0) if server.injected_discovery else None
                    if status is not None:
                        return self._send(status, server.error_body(status, self.path))
                    return self._send(200, discovery_document(server.root_url))
                self._send(404, {"error": {"code": 404, "message": "not found"}})

            def do_POST(self):
                url = urlparse(self.path)
                if url.path != ANALYZE_PATH:
                    return self._send(404, {"error": {"code": 404, "message": "not found"}})
                key = parse_qs(url.query).get("key", [""])[0]
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                text = body.get("comment", {}).get("text", "")
                with server.lock:
                    server.request_count += 1
                    server.requests_per_key[key] += 1
                    server.requests_per_text[text] += 1
                    server.request_log.append((time.monotonic(), key, text))
                    server.request_bodies.append(body)
                    status = server.injected.pop(0) if server.injected else None
                    if server._hold_after is not None and server.request_count > server._hold_after:
                        server._released.clear()
                if not server._released.is_set():
                    # A held request is never answered: its client is meant to die waiting.
                    server._released.wait()
                    self.close_connection = True
                    return
                if status == TRUNCATED:  # headers promise more body than is sent, then hang up
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"attributeSc')
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if status is not None:
                    return self._send(status, server.error_body(status, self.path))
                if not key:
                    return self._send(403, {"error": {"code": 403, "message": "no API key", "status": "PERMISSION_DENIED"}})
                if not text.strip() or text in server.permanent_texts:
                    return self._send(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                      "message": "Attribute TOXICITY does not support request languages"}})
                attrs = body.get("requestedAttributes", {})
                scores = {a: {"summaryScore": {"value": server.score_fn(text), "type": "PROBABILITY"},
                              "spanScores": []} for a in attrs}
                # Counted before sending, so the count is final once the client has its answer.
                with server.lock:
                    server.successes_per_text[text] += 1
                if not self._send(200, {"attributeScores": scores, "languages": body.get("languages", ["en"]),
                                        "detectedLanguages": ["en"]}):
                    with server.lock:
                        server.successes_per_text[text] -= 1

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.root_url = f"http://127.0.0.1:{self.port}/"
        self.discovery_url = f"{self.root_url}$discovery/rest?version=v1alpha1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def error_body(self, status: int, path: str) -> dict:
        names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED",
                 500: "INTERNAL", 503: "UNAVAILABLE"}
        message = f"injected; request was {path}" if self.echo_urls else "injected"
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}

    def fail_discovery(self, *statuses: int) -> None:
        """Answer the next discovery requests with these HTTP statuses, in order."""
        with self.lock:
            self.injected_discovery.extend(statuses)

    def fail_next(self, *statuses: int) -> None:
        """Answer the next analyze requests with these HTTP statuses, in order (TRUNCATED: a
        200 whose body is cut short by a dropped connection; None: answer normally)."""
        with self.lock:
            self.injected.extend(statuses)

    def hold(self) -> None:
        """Block analyze requests (after counting them) until release(); held requests are
        then dropped unanswered, as if the connection had died."""
        self._released.clear()

    def hold_after(self, n: int) -> None:
        """Answer the next n analyze requests normally, then hold every later one."""
        with self.lock:
            self._hold_after = self.request_count + n

    def release(self) -> None:
        with self.lock:
            self._hold_after = None
        self._released.set()

    def __enter__(self) -> "PerspectiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
