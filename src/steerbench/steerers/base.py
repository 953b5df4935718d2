"""The common interface of every steerer: input checks, device caching, save and load.

A steerer is fitted on positive activations (the behaviour to steer towards) and
negative ones, keeps its fitted state as a flat dict of tensors, and edits hidden
states with `steer(h, T)`. The state is saved as safetensors (no pickle) beside a
JSON file with the method name, hyperparameters and fit sizes, so a saved steerer
is restored exactly by `steerbench.steerers.load_steerer`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
from safetensors.torch import save_file
from torch import Tensor

from steerbench import __version__
from steerbench.io import atomic_path, write_json


def check_fit_inputs(pos: Tensor, neg: Tensor, method: str) -> None:
    """Raise ValueError naming the problem for inputs no steerer can be fitted on."""
    for name, x in (("pos", pos), ("neg", neg)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{method}.fit: `{name}` must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2:
            raise ValueError(f"{method}.fit: `{name}` must be 2-D [n, d], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{method}.fit: `{name}` must be a float tensor, got {x.dtype}")
        if x.shape[0] < 2:
            raise ValueError(
                f"{method}.fit: `{name}` has {x.shape[0]} sample(s); every class needs at least 2 "
                f"activations (extract more texts for this class)"
            )
        # A sum is finite only if every entry is (NaN and inf propagate); the exact
        # elementwise test (a bool copy of x) runs only when the cheap one fails.
        if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).any(dim=1).sum())
            raise ValueError(
                f"{method}.fit: `{name}` contains NaN or inf in {bad} row(s); the activations are "
                f"corrupted (check the model dtype / extraction and re-extract)"
            )
    if pos.shape[1] != neg.shape[1]:
        raise ValueError(
            f"{method}.fit: `pos` has d={pos.shape[1]} but `neg` has d={neg.shape[1]}; both "
            f"classes must come from the same model layer"
        )


def check_extra(extra: Mapping[str, Tensor] | None, requires: tuple[str, ...], accepts: tuple[str, ...],
                method: str) -> dict[str, Tensor]:
    """The extra fit data a steerer uses (required and optional names), checked; others dropped."""
    extra = dict(extra or {})
    missing = [k for k in requires if k not in extra]
    if missing:
        raise ValueError(
            f"{method}.fit needs extra fit data {missing} besides pos/neg (have: {sorted(extra) or 'none'}); "
            f"the workflow extracts it for this method: rerun extract_activations for it"
        )
    used = {k: extra[k] for k in (*requires, *accepts) if k in extra}
    for k, x in used.items():
        if not isinstance(x, Tensor):
            raise ValueError(f"{method}.fit: extra `{k}` must be a torch.Tensor, got {type(x).__name__}")
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{method}.fit: extra `{k}` contains NaN or inf; re-extract the activations")
    return used


# Where the LM runtime applies `steer` (see steerbench.lm.hooks.steering):
#   "last"   the last position of every forward pass (the ODESteer paper's hook: the last
#            prompt token at prefill, then each new token while decoding)
#   "prompt" at prefill only, every prompt position is shifted by the edit computed from the
#            last prompt token's state (AlphaSteer); decoding steps are not edited
#   "all"    every position of every forward pass (steering-vector literature)
POSITIONS = ("last", "prompt", "all")


class Steerer:
    """Base class. Subclasses set `name`, implement `_fit` and `_steer`."""

    name: ClassVar[str] = "Steerer"
    # Named fit data beyond pos/neg: `requires` must be given to fit(), `accepts` may be;
    # both reach `_fit` as keyword arguments. Other names given to fit() are ignored.
    requires: ClassVar[tuple[str, ...]] = ()
    accepts: ClassVar[tuple[str, ...]] = ()
    # Default edit positions of this method (one of POSITIONS).
    positions: ClassVar[str] = "last"

    def __init__(self, **hyperparams: Any) -> None:
        self.hyperparams: dict[str, Any] = dict(hyperparams)
        self.state: dict[str, Tensor] = {}
        self.d: int | None = None
        self.n_pos: int | None = None
        self.n_neg: int | None = None
        # The workflow's seed, given to fit(); methods that draw random numbers use it.
        self.fit_seed: int = 0
        self._device_cache: dict[tuple[torch.device, torch.dtype], dict[str, Tensor]] = {}

    # ------------------------------------------------------------------ fitting
    @torch.no_grad()
    def fit(self, pos: Tensor, neg: Tensor, extra: Mapping[str, Tensor] | None = None, *,
            seed: int | None = None) -> "Steerer":
        """Fit on `pos` [n, d] (behaviour to steer towards) and `neg` [m, d]; returns self.

        `extra`: named tensors some methods need beyond the two classes (`requires`,
        `accepts`); `seed`: the seed of any random draw the method makes (default 0)."""
        check_fit_inputs(pos, neg, self.name)
        used = check_extra(extra, self.requires, self.accepts, self.name)
        self.d, self.n_pos, self.n_neg = int(pos.shape[1]), int(pos.shape[0]), int(neg.shape[0])
        self.fit_seed = 0 if seed is None else int(seed)
        self.state = {}
        self._device_cache = {}
        self._fit(pos, neg, **used)
        # Saved state is CPU float32/int64 so a file is the same whatever device fitted it.
        self.state = {k: v.detach().to("cpu").contiguous() for k, v in self.state.items()}
        return self

    def _fit(self, pos: Tensor, neg: Tensor) -> None:
        raise NotImplementedError

    @property
    def fitted(self) -> bool:
        return self.d is not None

    # ----------------------------------------------------------------- steering
    @torch.no_grad()
    def steer(self, h: Tensor, T: float) -> Tensor:
        """Steered copy of `h` [..., d] with strength `T`; same shape, dtype and device."""
        if not self.fitted:
            raise ValueError(f"{self.name}.steer called before fit(); fit the steerer or load a saved one")
        if not isinstance(h, Tensor) or not h.is_floating_point():
            raise ValueError(f"{self.name}.steer: `h` must be a float tensor")
        if h.ndim == 0 or h.shape[-1] != self.d:
            raise ValueError(
                f"{self.name}.steer: `h` has last dimension {tuple(h.shape)[-1:] or '()'} but the "
                f"steerer was fitted with d={self.d}; steer the same layer/model it was fitted on"
            )
        T = float(T)
        if not math.isfinite(T):
            raise ValueError(f"{self.name}.steer: T={T} is not a finite number")
        if T == 0.0 or h.numel() == 0:
            return h
        # Work in float32 at least: bf16/fp16 hidden states lose the small ODE steps.
        work = torch.float64 if h.dtype == torch.float64 else torch.float32
        x = h.reshape(-1, self.d).to(work)
        out = self._steer(x, T, self._tensors(x.device, work))
        return out.reshape(h.shape).to(h.dtype)

    def _steer(self, x: Tensor, T: float, s: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def _tensors(self, device: torch.device, dtype: torch.dtype) -> dict[str, Tensor]:
        """The state on `device`, floats in `dtype`; cached so a forward hook copies it once."""
        key = (device, dtype)
        if key not in self._device_cache:
            self._device_cache[key] = {
                k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
                for k, v in self.state.items()
            }
        return self._device_cache[key]

    # ------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "hyperparameters": self.hyperparams,
            "d": self.d,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "seed": self.fit_seed,
            "steerbench_version": __version__,
        }

    def save(self, path: str | Path) -> None:
        """Write `<x>.safetensors` (the fitted tensors) and `<x>.json` (method and metadata)."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise ValueError(f"{path}: a steerer file must end in .safetensors (the JSON goes beside it)")
        if not self.fitted:
            raise ValueError(f"{self.name}.save called before fit(); fit the steerer first")
        tensors = dict(self.state)
        if not tensors:  # safetensors files hold at least one tensor; NoSteer has none
            tensors = {"_empty": torch.zeros(0)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"method": self.name})
        write_json(path.with_suffix(".json"), self.metadata())

    def _restore(self, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.d, self.n_pos, self.n_neg = int(meta["d"]), int(meta["n_pos"]), int(meta["n_neg"])
        self.fit_seed = int(meta.get("seed", 0))
        self.state = {k: v for k, v in tensors.items() if k != "_empty"}
        self._device_cache = {}

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"{self.name}({hp}{', fitted d=' + str(self.d) if self.fitted else ''})"
