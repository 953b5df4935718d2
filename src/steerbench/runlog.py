"""Plumbing shared by the workflow's scripts: log redirection and clean failures.

A rule's script sends everything to its `log:` file; an expected failure (bad input,
missing credentials, a full disk) ends the job with one clear line instead of a
traceback. Secrets from the environment (API keys, tokens) never reach the log: every
line written to it, tracebacks included, has them replaced by <redacted>.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import sys
import traceback
from typing import Any, Callable, Iterable

# Bad input and missing credentials: one clear line. Anything else is a bug: full traceback.
EXPECTED_ERRORS = (ValueError, FileNotFoundError, PermissionError, ConnectionError)

# Environment variables whose values are secrets (PERSPECTIVE_API_KEY(S), HF_TOKEN, KAGGLE_KEY, ...).
SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
REDACTED = "<redacted>"
# A credential in a URL's query string, whatever its value.
_URL_SECRET = re.compile(r"(?i)([?&](?:key|api_key|apikey|access_token|token)=)[^&#\s'\"]+")


def env_secrets(environ: dict | None = None) -> list[str]:
    """Values of secret-looking environment variables (comma-separated lists split), longest first."""
    environ = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in environ.items():
        if SECRET_ENV.search(name):
            for part in [value, *value.split(",")]:
                part = part.strip()
                if len(part) >= 6:  # short values ("1", "true") are settings, not secrets
                    found.add(part)
    return sorted(found, key=len, reverse=True)


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    text = _URL_SECRET.sub(r"\1" + REDACTED, text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts secrets line by line before writing to `target`
    (buffered to the end of a line so a secret split over two writes is still caught)."""

    def __init__(self, target, secrets: Iterable[str]):
        self.target, self.secrets, self._pending = target, list(secrets), ""

    def write(self, s: str) -> int:
        self._pending += s
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.target.write(redact_secrets(line, self.secrets) + "\n")
        if lines:
            self.target.flush()
        return len(s)

    def flush(self) -> None:
        if self._pending:
            self.target.write(redact_secrets(self._pending, self.secrets))
            self._pending = ""
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.target.fileno()


def os_error_line(e: OSError) -> str:
    """One line naming the path and the likely fix of an OSError (disk full, permission)."""
    path = e.filename if e.filename is not None else "(no path given)"
    if e.filename2 is not None:
        path = f"{path} -> {e.filename2}"
    fix = {
        errno.ENOSPC: "the disk is full: free space (or point the workflow at another disk) and rerun",
        errno.EDQUOT: "the disk quota is exceeded: free space and rerun",
        errno.EACCES: "permission denied: fix the file's or folder's permissions and rerun",
        errno.EPERM: "operation not permitted: fix the file's or folder's permissions and rerun",
        errno.EROFS: "the file system is read-only: write the results elsewhere and rerun",
    }.get(e.errno, "check the path and rerun")
    return f"{path}: {e.strerror or e}; {fix}"


def run_script(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run `main(snakemake)` with stdout/stderr in the rule's log file."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    secrets = env_secrets()
    raw = open(log_path, "w", buffering=1) if log_path else sys.__stderr__
    stream = RedactingStream(raw, secrets)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    threads = int(getattr(snakemake, "threads", 1) or 1)
    # The rule's threads bound torch (it reads OMP_NUM_THREADS when first imported, capped
    # at the core count) and the BLAS libraries. torch itself is not imported here: ~3 s
    # that the jobs without a model (downloads, tables, plots, string scorers) would waste.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not str(snakemake.rule).startswith("download_"):
        from steerbench.hub import offline_hub

        offline_hub()
    job_id = os.environ.get("SLURM_JOB_ID")
    if job_id:
        print(f"SLURM_JOB_ID={job_id}", flush=True)

    def fail(message: str) -> None:
        line = redact_secrets(f"ERROR in rule {snakemake.rule}: {message}", secrets)
        print(f"\n{line}", file=stream, flush=True)
        stream.flush()
        sys.__stderr__.write(line + "\n")
        sys.exit(1)

    try:
        if "torch" in sys.modules:  # imported before us (unpickling the job's params): too late for the variable
            sys.modules["torch"].set_num_threads(threads)
        main(snakemake)
    except EXPECTED_ERRORS as e:
        fail(str(e))
    except OSError as e:  # disk full, permissions, read-only file system: not a bug
        fail(os_error_line(e))
    except Exception:  # a bug: the full traceback, through the redacting stream
        traceback.print_exc(file=stream)
        fail("unexpected error (traceback above in this log)")
    finally:
        stream.flush()
