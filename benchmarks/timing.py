"""The table the speed scripts print: median and min wall seconds of each way timed."""

from __future__ import annotations

import statistics


def print_seconds(first_column: str, times: dict[str, list[float]]) -> None:
    print(f"| {first_column} | median | min |")
    print("|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {min(ts):.2f} |")
