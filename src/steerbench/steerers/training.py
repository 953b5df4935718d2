"""What the learned steerers (HPR, RE-Control, TruthFlow) share: a seeded, deterministic
training context, the training device, progress reporting, group-id checks, and networks
kept as flat safetensors state.

Networks are plain `nn.Module`s while training; afterwards only their `state_dict` is
kept (in `Steerer.state`, keys prefixed by the network's name), and steering runs the
module skeleton on those tensors with `torch.func.functional_call`, so a loaded steerer
rebuilds exactly the network it saved, on whatever device and dtype the hook runs in.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Callable, Iterator, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

# A log line at most this often when stderr is not a terminal (Snakemake logs).


def training_device(name: str) -> torch.device:
    """'auto': the GPU when there is one, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device={name!r} is not a torch device; use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but no CUDA GPU is visible; use device: cpu (or auto)")
    return dev


@contextlib.contextmanager
def seeded_training(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Deterministic training: the global RNG is forked and seeded (for module init),
    deterministic algorithms are on, and a CPU generator seeded with `seed` is yielded
    for every shuffle and every random draw. Global state is restored on exit."""
    if device.type == "cuda":
        # cuBLAS is deterministic only with a fixed workspace; effective when set before
        # the first cuBLAS call of the process (the fit job does nothing else on the GPU).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_det = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            with torch.enable_grad():
                yield torch.Generator().manual_seed(seed)
        finally:
            torch.use_deterministic_algorithms(was_det, warn_only=was_warn)


def linear_warmup_decay(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR factor: linear warm-up to 1 over `warmup_steps`, then linear decay to 0 at
    `total_steps` (the schedule of transformers' Trainer, which HPR's code trains with)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def check_groups(method: str, name: str, groups: Tensor, n: int, n_groups: int | None = None) -> Tensor:
    """A group-id vector [n] of int64 (one id per pos/neg row), checked; returned on CPU."""
    if groups.ndim != 1 or groups.shape[0] != n:
        raise ValueError(
            f"{method}.fit: extra `{name}` has shape {tuple(groups.shape)} but there are {n} rows; "
            f"the extras file must come from the same split (and limit) as the activations: rerun "
            f"extract_fit_extras"
        )
    if groups.is_floating_point() or groups.dtype == torch.bool:
        raise ValueError(f"{method}.fit: extra `{name}` must hold integer group ids, got {groups.dtype}")
    groups = groups.to("cpu", torch.int64)
    if n and int(groups.min()) < 0:
        raise ValueError(f"{method}.fit: extra `{name}` holds negative group ids")
    if n_groups is not None and n and int(groups.max()) >= n_groups:
        raise ValueError(
            f"{method}.fit: extra `{name}` names group {int(groups.max())} but `queries` has only "
            f"{n_groups} rows (one per group); rerun extract_fit_extras"
        )
    return groups


def rows_by_group(groups: Tensor) -> dict[int, Tensor]:
    """{group id: row indices} in increasing group order, rows in input order."""
    order = torch.argsort(groups, stable=True)
    ids, counts = torch.unique_consecutive(groups[order], return_counts=True)
    return {int(g): rows for g, rows in zip(ids.tolist(), torch.split(order, counts.tolist()))}


def prefixed_state(prefix: str, module: nn.Module) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).clone()
            for k, v in module.state_dict().items()}


def unprefixed(prefix: str, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in state.items() if k.startswith(prefix + ".")}


def check_state(method: str, prefix: str, skeleton: nn.Module, state: Mapping[str, Tensor]) -> None:
    """A saved network must have exactly the skeleton's tensors, with their shapes."""
    got = unprefixed(prefix, state)
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    if set(got) != set(want) or any(tuple(got[k].shape) != want[k] for k in want):
        bad = sorted(set(want) ^ set(got)) or [k for k in want if tuple(got[k].shape) != want[k]]
        raise ValueError(
            f"{method}: the saved `{prefix}` network does not match its hyperparameters (tensors {bad[:4]}); "
            f"the file was written by another version or edited: refit the steerer"
        )


def run_network(skeleton: nn.Module, prefix: str, state: Mapping[str, Tensor], *args: Tensor) -> Tensor:
    """The network `skeleton` (eval mode) evaluated with the tensors saved under `prefix`."""
    return functional_call(skeleton, unprefixed(prefix, state), args)


def skeleton(factory: Callable[[], nn.Module]) -> nn.Module:
    """A network built without memory (meta device), in eval mode: shapes and code only."""
    with torch.device("meta"):
        net = factory()
    return net.eval()


def angle_between(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """Row-wise angle in radians, cos clamped to [-1 + eps, 1 - eps] as HPR's code does."""
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-30)
    return torch.arccos(cos.clamp(-1 + eps, 1 - eps))


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


class TrainedNetwork:
    """Mixin for a steerer with one trained network (put it before Steerer in the bases):
    the per-epoch training log goes into the JSON, and a loaded file's tensors are checked
    against the network its hyperparameters build (`skeleton()`, state keys `prefix.*`)."""

    network_prefix: str

    def skeleton(self) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define skeleton()")

    def metadata(self) -> dict:
        return {**super().metadata(), "training": self.history}

    def _restore(self, meta: dict, tensors: dict[str, Tensor]) -> None:
        super()._restore(meta, tensors)
        self.history = list(meta.get("training", []))
        self._net = None
        check_state(self.name, self.network_prefix, self.skeleton(), self.state)
