"""Progress of long work: a tqdm bar on a terminal, plain log lines everywhere else.

A Snakemake job's stderr is its log file, where a tqdm bar is a wall of carriage returns
(or, disabled, nothing at all: a 15-minute extraction looked hung). Off a terminal the
same calls print one line every `every_s` seconds and a last one when the work ends:

    extract L13: 96/409 text (23%), 3.1 text/s, ETA 1:41
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

LOG_EVERY_S = 10.0

T = TypeVar("T")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`update(n, **info)` as work is done, `close()` at the end (or use it as a context)."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", every_s: float = LOG_EVERY_S,
                 stream=None) -> None:
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, float(every_s)
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.bar = None
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False)
        self.start = self.last = time.monotonic()
        self.info: dict[str, float] = {}
        self.closed = False

    def line(self) -> str:
        """The progress line as it stands: done/total (share), rate, ETA, extra info."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.desc}: {self.done}"]
        if self.total:
            parts[0] += f"/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{rate:.3g} {self.unit}/s")
        if self.total and self.done < self.total and rate > 0:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        elif self.total and self.done >= self.total:
            parts.append(f"done in {_clock(elapsed)}")
        line = ", ".join(parts)
        return line + "".join(f" {k}={v:.4g}" for k, v in self.info.items())

    def update(self, n: int = 1, **info: float) -> None:
        self.done += n
        self.info.update(info)
        if self.bar is not None:
            self.bar.update(n)
            if info:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in info.items()})
            return
        now = time.monotonic()
        if now - self.last >= self.every_s and not (self.total and self.done >= self.total):
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.done or self.total:
            print(self.line(), file=self.stream, flush=True)  # the last line: how it ended

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_iter(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """`iterable`, reporting each item to a Progress."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with Progress(total, desc, unit) as bar:
        for item in iterable:
            yield item
            bar.update(1)
