"""Results per alpha, cached per (measurement, model, concept, layer, steerer).

One file per (measurement, model, concept, layer, steerer) holds {settings, results},
results keyed by alpha (grid.alpha_key). A run asks which alphas are missing, computes
only those, and merges them in. Anything else the numbers depend on (the vector, the
data, the measurement's options) goes into `settings`; a file whose settings differ is
stale and is started afresh. The file lives outside Snakemake's outputs on purpose:
Snakemake deletes a job's outputs before rerunning it, which would throw the cache away.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from steerbench.io import atomic_path
from steerbench.strength.grid import alpha_key

log = logging.getLogger(__name__)


def fingerprint(value: Any) -> str:
    """A stable hash of JSON-able settings (tensors by their bytes)."""
    h = hashlib.sha256()

    def feed(v):
        if isinstance(v, torch.Tensor):
            h.update(b"T" + str(tuple(v.shape)).encode() + v.detach().cpu().contiguous().float().numpy().tobytes())
        elif isinstance(v, dict):
            h.update(b"{")
            for k in sorted(v):
                h.update(str(k).encode() + b":")
                feed(v[k])
            h.update(b"}")
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                feed(x)
            h.update(b"]")
        else:
            h.update(json.dumps(v, sort_keys=True, default=str).encode())

    feed(value)
    return h.hexdigest()[:16]


class AlphaCache:
    def __init__(self, path: str | Path, settings: dict) -> None:
        self.path = Path(path)
        self.key = fingerprint(settings)
        self.results: dict[str, Any] = {}
        if self.path.is_file():
            stored = torch.load(self.path, weights_only=True)
            if stored.get("key") == self.key:
                self.results = stored["results"]
            else:
                log.info("%s: settings changed, cache started afresh", self.path)

    def missing(self, alphas: Sequence[float]) -> list[float]:
        return [a for a in alphas if alpha_key(a) not in self.results]

    def get(self, alpha: float) -> Any:
        return self.results[alpha_key(alpha)]

    def put(self, results: dict[float, Any]) -> None:
        for a, value in results.items():
            self.results[alpha_key(a)] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            torch.save({"key": self.key, "results": self.results}, tmp)

    def fill(self, alphas: Sequence[float], compute: Callable[[list[float]], dict[float, Any]]) -> dict[float, Any]:
        """Results for every alpha: cached ones read back, the rest computed (and stored)."""
        todo = self.missing(alphas)
        if todo:
            log.info("%s: computing %d of %d alphas", self.path.name, len(todo), len(alphas))
            self.put(compute(todo))
        return {a: self.get(a) for a in alphas}
