"""Plugins: modules named under the config's `plugins:` that register tasks and scorers.

The workflow imports them at parse time and records their names in STEERBENCH_PLUGINS,
which every job inherits; the task and scorer registries import them from there on
first use, so a job script finds a plugin's task or scorer without knowing the config.
"""

from __future__ import annotations

import importlib
import os

ENV = "STEERBENCH_PLUGINS"
_loaded: set[str] = set()


def load_plugins(modules: list[str] | tuple[str, ...] | None = None) -> None:
    """Import `modules` (and those already named in STEERBENCH_PLUGINS), each once."""
    names = [n for n in os.environ.get(ENV, "").split(",") if n]
    if modules:
        names = list(dict.fromkeys(names + list(modules)))
        os.environ[ENV] = ",".join(names)
    for name in names:
        if name in _loaded:
            continue
        _loaded.add(name)
        try:
            importlib.import_module(name)
        except ImportError as e:
            _loaded.discard(name)
            raise ValueError(f"plugins: cannot import {name!r} ({e}); put it on PYTHONPATH or fix the name") from None
