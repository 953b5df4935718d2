"""Steering methods: a registry by name, loading saved steerers, and their source files.

    get_steerer("ODESteer", solver="rk4").fit(pos, neg).save("x.safetensors")
    load_steerer("x.safetensors").steer(h, T=5.0)
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from steerbench.steerers.base import Steerer

_HERE = Path(__file__).resolve().parent

# name -> (module, class, library modules its fitted output depends on beyond base.py, so
# the workflow reruns only the jobs of the method whose code changed). The classes are
# imported on first use (PEP 562): the workflow's parse needs the names and files, not torch.
_STEERERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "NoSteer": ("nosteer", "NoSteer", ("nosteer.py",)),
    "CAA": ("caa", "CAA", ("caa.py", "vector.py")),
    "RepE": ("repe", "RepE", ("repe.py", "vector.py")),
    "ITI": ("iti", "ITI", ("iti.py", "vector.py", "logistic.py")),
    "MiMiC": ("mimic", "MiMiC", ("mimic.py", "logistic.py")),
    "LinAcT": ("linact", "LinAcT", ("linact.py",)),
    "ODESteer": ("ode", "ODESteer", ("ode.py", "sketch.py", "logistic.py")),
    "StepODESteer": ("ode", "StepODESteer", ("ode.py", "sketch.py", "logistic.py")),
    "RFFODESteer": ("ode", "RFFODESteer", ("ode.py", "rff.py", "logistic.py")),
    # The paper's learned (DNN) baselines.
    "HPR": ("hpr", "HPR", ("hpr.py", "training.py")),
    "RE-Control": ("recontrol", "REControl", ("recontrol.py", "training.py")),
    "TruthFlow": ("truthflow", "TruthFlow", ("truthflow.py", "training.py")),
    "AlphaSteer": ("alphasteer", "AlphaSteer", ("alphasteer.py",)),
    "DynamicAlphaSteer": ("alphasteer", "DynamicAlphaSteer", ("alphasteer.py",)),
}
_CLASSES = {cls: (module, name) for name, (module, cls, _) in _STEERERS.items()}


def __getattr__(attr: str):
    """`from steerbench.steerers import CAA` (and `Steerer`) import the class on use."""
    if attr == "Steerer":
        from steerbench.steerers.base import Steerer

        return Steerer
    if attr in _CLASSES:
        return _lookup(_CLASSES[attr][1])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def available_steerers() -> list[str]:
    return list(_STEERERS)


def _lookup(name: str) -> type[Steerer]:
    if name not in _STEERERS:
        raise ValueError(f"unknown steerer {name!r}; known steerers: {', '.join(_STEERERS)}")
    module, cls, _ = _STEERERS[name]
    return getattr(importlib.import_module(f"steerbench.steerers.{module}"), cls)


def get_steerer(name: str, **hyperparams) -> Steerer:
    """An unfitted steerer; unknown names or hyperparameters raise ValueError."""
    cls = _lookup(name)
    try:
        return cls(**hyperparams)
    except TypeError as e:
        raise ValueError(f"bad hyperparameters for steerer {name!r}: {e}") from None


def steerer_source_files(name: str) -> list[Path]:
    """The library .py files whose code determines `name`'s fitted output and steering."""
    if name not in _STEERERS:
        _lookup(name)  # raises, naming the known steerers
    return [_HERE / "base.py", *(_HERE / f for f in _STEERERS[name][2])]


def load_steerer(path: str | Path) -> Steerer:
    """Restore a steerer saved by `Steerer.save` ("<x>.safetensors" plus "<x>.json")."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file; fit the steerer first (rule fit_steerer)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        method, hp = meta["method"], meta["hyperparameters"]
        for key in ("d", "n_pos", "n_neg"):
            int(meta[key])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{meta_path}: not a steerer metadata file ({e}); delete it and refit") from None
    from safetensors.torch import load_file

    steerer = get_steerer(method, **hp)
    steerer._restore(meta, load_file(str(path)))
    return steerer


__all__ = [
    "Steerer", "get_steerer", "available_steerers", "load_steerer", "steerer_source_files",
    "NoSteer", "CAA", "RepE", "ITI", "MiMiC", "LinAcT", "ODESteer", "StepODESteer", "RFFODESteer",
    "HPR", "REControl", "TruthFlow", "AlphaSteer", "DynamicAlphaSteer",
]
