"""Steering methods: a registry by name, loading saved steerers, and their source files.

    get_steerer("ODESteer", solver="rk4").fit(pos, neg).save("x.safetensors")
    load_steerer("x.safetensors").steer(h, T=5.0)
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from steerbench.steerers.alphasteer import AlphaSteer, DynamicAlphaSteer
from steerbench.steerers.base import Steerer
from steerbench.steerers.caa import CAA
from steerbench.steerers.hpr import HPR
from steerbench.steerers.iti import ITI
from steerbench.steerers.linact import LinAcT
from steerbench.steerers.mimic import MiMiC
from steerbench.steerers.nosteer import NoSteer
from steerbench.steerers.ode import ODESteer, RFFODESteer, StepODESteer
from steerbench.steerers.recontrol import REControl
from steerbench.steerers.repe import RepE
from steerbench.steerers.truthflow import TruthFlow

_HERE = Path(__file__).resolve().parent

_REGISTRY: dict[str, type[Steerer]] = {
    cls.name: cls for cls in (NoSteer, CAA, RepE, ITI, MiMiC, LinAcT, ODESteer, StepODESteer, RFFODESteer)
}
# The paper's learned (DNN) baselines.
_REGISTRY.update({cls.name: cls for cls in (HPR, REControl, TruthFlow)})
_REGISTRY.update({cls.name: cls for cls in (AlphaSteer, DynamicAlphaSteer)})

# Library modules each method's fitted output depends on (beyond base.py), so the workflow
# reruns only the jobs of the method whose code changed.
_SOURCES: dict[str, tuple[str, ...]] = {
    "NoSteer": ("nosteer.py",),
    "CAA": ("caa.py", "vector.py"),
    "RepE": ("repe.py", "vector.py"),
    "ITI": ("iti.py", "vector.py", "logistic.py"),
    "MiMiC": ("mimic.py", "logistic.py"),
    "LinAcT": ("linact.py",),
    "ODESteer": ("ode.py", "sketch.py", "logistic.py"),
    "StepODESteer": ("ode.py", "sketch.py", "logistic.py"),
    "RFFODESteer": ("ode.py", "rff.py", "logistic.py"),
    "HPR": ("hpr.py", "training.py"),
    "RE-Control": ("recontrol.py", "training.py"),
    "TruthFlow": ("truthflow.py", "training.py"),
    "AlphaSteer": ("alphasteer.py",),
    "DynamicAlphaSteer": ("alphasteer.py",),
}


def available_steerers() -> list[str]:
    return list(_REGISTRY)


def _lookup(name: str) -> type[Steerer]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown steerer {name!r}; known steerers: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get_steerer(name: str, **hyperparams) -> Steerer:
    """An unfitted steerer; unknown names or hyperparameters raise ValueError."""
    cls = _lookup(name)
    try:
        return cls(**hyperparams)
    except TypeError as e:
        raise ValueError(f"bad hyperparameters for steerer {name!r}: {e}") from None


def steerer_source_files(name: str) -> list[Path]:
    """The library .py files whose code determines `name`'s fitted output and steering."""
    _lookup(name)
    return [_HERE / "base.py", *(_HERE / f for f in _SOURCES[name])]


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
    steerer = get_steerer(method, **hp)
    steerer._restore(meta, load_file(str(path)))
    return steerer


__all__ = [
    "Steerer", "get_steerer", "available_steerers", "load_steerer", "steerer_source_files",
    "NoSteer", "CAA", "RepE", "ITI", "MiMiC", "LinAcT", "ODESteer", "StepODESteer", "RFFODESteer",
    "HPR", "REControl", "TruthFlow", "AlphaSteer", "DynamicAlphaSteer",
]
