"""Facts the workflow's parse reads from torch code, cached on disk between parses.

Snakemake parses the workflow on every call: each `snakemake -n`, and each SLURM job's own
run. The config checks need facts that live in modules importing torch (a steerer's
constructor keywords and required fit tensors, whether a params block constructs,
generate()'s keywords); importing torch for them was ~2.6 s of a 6.7 s demo dry run.
`cached` computes a fact once by importing, then serves it from
`.snakemake/steerbench/facts-<hash>.json` in the working folder, where <hash> covers every
source file of the package: any code edit starts a new file, so a fact is never stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

_PACKAGE = Path(__file__).resolve().parent
CACHE_DIR = Path(".snakemake") / "steerbench"

_facts: dict[str, Any] = {}
_path: Path | None = None
_fp: str | None = None


def _fingerprint() -> str:
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(p.relative_to(_PACKAGE)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """compute()'s value (JSON-serialisable), read from the cache when it holds `key`."""
    global _facts, _path, _fp
    if _fp is None:
        _fp = _fingerprint()
    path = Path.cwd() / CACHE_DIR / f"facts-{_fp}.json"
    if path != _path:  # first use, or another working folder
        _path = path
        try:
            _facts = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _facts = {}
    if key not in _facts:
        _facts[key] = compute()
        _save(path, _facts)
    return _facts[key]


def _save(path: Path, facts: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(facts, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)  # parallel parses (SLURM jobs) each write a whole file
        for old in path.parent.glob("facts-*.json"):
            if old != path:
                old.unlink(missing_ok=True)  # facts of code that no longer exists
    except OSError:
        pass  # a read-only working folder: the facts are computed again next time
