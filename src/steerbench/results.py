"""Collect score files into one long per-item table, reading run metadata from the path.

Layout (docs/architecture.md):
``results/<run>/scores/<scorer>/<model>/<task>/L<layer>/<method>/T<T>/seed<seed>.jsonl``.
The path is the single source of run metadata, so a file in the wrong place is an
error here rather than a silently mislabelled row in a table.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from steerbench.integrity import EXPECTED, check_expected
from steerbench.io import read_jsonl
from steerbench.metrics import scorer_raw_metrics

COLUMNS = ["model", "task", "layer", "method", "T", "seed", "scorer", "id", "metric", "value"]
# Keys of a score row that are bookkeeping, not metrics (run metadata a scorer may copy
# over from the generation row).
_NON_METRIC_KEYS = {
    "id", "error", "split", "model", "task", "layer", "method", "T", "seed",
    "prompt", "prompt_text", "generation", EXPECTED,
}


def format_T(T: float) -> str:
    """The T part of a path: ``5.0 -> "5"``, ``0.5 -> "0.5"``, ``1e-05 -> "1e-05"``.

    Shortest round-trip repr with a trailing ``.0`` dropped, so ``float(format_T(T)) == T``
    and one T value always maps to one directory name.
    """
    T = float(T)
    if not math.isfinite(T):
        raise ValueError(f"T={T!r} is not a finite number; set a finite steering strength")
    if T == 0:
        return "0"  # also folds -0.0 into one directory
    if T.is_integer() and abs(T) < 1e16:
        return str(int(T))
    return repr(T)


def parse_T(text: str) -> float:
    """Inverse of :func:`format_T` (accepts the text with or without the leading ``T``)."""
    raw = text[1:] if text.startswith("T") else text
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a T directory name like 'T5' or 'T0.5'") from None


@dataclass(frozen=True)
class ScoreRun:
    scorer: str
    model: str
    task: str
    layer: int
    method: str
    T: float
    seed: int


_LAYOUT = "<scorer>/<model>/<task>/L<layer>/<method>/T<T>/seed<seed>.jsonl"


def parse_score_path(path: str | os.PathLike) -> ScoreRun:
    """Run metadata from the last seven parts of a score file's path."""
    parts = Path(path).parts
    bad = ValueError(
        f"{path}: not a score file path; expected .../{_LAYOUT} "
        f"(e.g. results/<run>/scores/quality/smollm2/truthfulqa/L13/ODESteer/T5/seed0.jsonl)"
    )
    if len(parts) < 7:
        raise bad
    scorer, model, task, layer, method, T, seed = parts[-7:]
    m_layer = re.fullmatch(r"L(\d+)", layer)
    m_seed = re.fullmatch(r"seed(\d+)\.jsonl", seed)
    if not (m_layer and m_seed and T.startswith("T")):
        raise bad
    try:
        T_value = parse_T(T)
    except ValueError:
        raise bad from None
    return ScoreRun(scorer, model, task, int(m_layer.group(1)), method, T_value, int(m_seed.group(1)))


def _value(raw: object, path: Path, item: object, metric: str) -> float:
    # null means "this item failed": kept as NaN in the long table and counted as a
    # failure by the statistics, never averaged in.
    if raw is None:
        return math.nan
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(
            f"{path}: item {item!r} has {metric}={raw!r}; metric values must be numbers or "
            f"null; fix the scorer that wrote this file and rerun it"
        )
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(
            f"{path}: item {item!r} has non-finite {metric}={raw!r}; a failed item must be "
            f"written as null with an 'error'; rerun the scorer"
        )
    return value


def read_score_file(path: str | os.PathLike) -> pd.DataFrame:
    """One score file as long rows (one per item and metric), metadata from the path."""
    path = Path(path)
    run = parse_score_path(path)
    # A score file cut short must not reach a table as full coverage (integrity.stamp_expected).
    rows = check_expected(read_jsonl(path), path)
    # The file's metrics are every metric key any row has; a row lacking one (a failed
    # item written as just {"id", "error"}) counts as failed for it, not as absent.
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in _NON_METRIC_KEYS))
    if not metrics:
        metrics = list(scorer_raw_metrics(run.scorer))
    if rows and not metrics:
        raise ValueError(
            f"{path}: no metric values in any row and {run.scorer!r} is not a known scorer; "
            f"score rows must be {{\"id\", <metric>: float|null, ..., \"error\"}}"
        )
    records = []
    for lineno, row in enumerate(rows, 1):
        if "id" not in row:
            raise ValueError(
                f"{path}: row {lineno} has no 'id'; score rows must be "
                f'{{"id", <metric>: float|null, ..., "error"}}; rerun the scorer'
            )
        for metric in metrics:
            records.append(
                (run.model, run.task, run.layer, run.method, run.T, run.seed, run.scorer,
                 str(row["id"]), metric, _value(row.get(metric), path, row["id"], metric))
            )
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def collect(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """All score files as one long per-item DataFrame with columns :data:`COLUMNS`.

    ``value`` is NaN exactly where the score file has null (a failed item).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no score files given; check that the task lists scorers in config")
    frames = [read_score_file(p) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    key = ["scorer", "model", "task", "layer", "method", "T", "seed", "id", "metric"]
    dup = df.duplicated(key)
    if dup.any():
        first = df.loc[dup, key].iloc[0].to_dict()
        raise ValueError(
            f"duplicate score rows for {first}; an item id appears twice in one score file "
            f"(or two paths parse to the same run); fix the scorer output"
        )
    return df.astype({"layer": int, "seed": int, "T": float, "value": float})
