"""The strength grid: linspace plus 0 (the unsteered reference every Delta is taken against)."""

from __future__ import annotations

from typing import Iterable, Sequence


def alpha_grid(start: float = -200.0, stop: float = 200.0, steps: int = 1024, extra: Sequence[float] = ()) -> list[float]:
    """Sorted unique alphas: `steps` evenly spaced in [start, stop], `extra`, and 0."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"alpha grid steps must be a positive int, got {steps!r}")
    if steps > 1 and not start < stop:
        raise ValueError(f"alpha grid needs start < stop, got start={start}, stop={stop}")
    if steps == 1:
        values = [float(start)]
    else:
        width = (float(stop) - float(start)) / (steps - 1)
        values = [float(start) + i * width for i in range(steps)]
    return normalise_alphas([*values, *extra, 0.0])


def normalise_alphas(alphas: Iterable[float]) -> list[float]:
    """Sorted, deduplicated (by their cache key), always holding 0."""
    out: dict[str, float] = {}
    for a in [*alphas, 0.0]:
        try:
            value = float(a)
        except (TypeError, ValueError):
            raise ValueError(f"alpha {a!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"alpha {a!r} must be finite")
        out.setdefault(alpha_key(value), value + 0.0)  # + 0.0 turns -0.0 into 0.0
    return sorted(out.values())


def alpha_key(alpha: float) -> str:
    """The cache key of an alpha: its shortest round-trip repr, so 0.1 and 0.1000 agree."""
    value = float(alpha) + 0.0
    return repr(value)


def grid_from_config(spec) -> list[float]:
    """A grid from config: a list of values, or {start, stop, steps, extra}."""
    if isinstance(spec, dict):
        unknown = set(spec) - {"start", "stop", "steps", "extra"}
        if unknown:
            raise ValueError(f"alpha grid has unknown keys {sorted(unknown)}; use start, stop, steps, extra")
        return alpha_grid(spec.get("start", -200.0), spec.get("stop", 200.0), spec.get("steps", 1024), spec.get("extra", ()))
    if isinstance(spec, (list, tuple)) and spec:
        return normalise_alphas(spec)
    raise ValueError(f"alphas must be a non-empty list or {{start, stop, steps}}, got {spec!r}")
