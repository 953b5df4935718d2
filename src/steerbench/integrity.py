"""Structural checks of data files, so broken or short input fails loudly, naming file and line.

- CSV: every record parses under strict quoting and has exactly the header's number of
  fields (an unterminated quote otherwise merges rows silently).
- Derived JSONL files (generations) carry the number of rows they should hold in every
  row (`expected_rows`), so a file cut at a line boundary, which still parses, is caught by
  the next stage instead of scoring as if complete.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Sequence

EXPECTED = "expected_rows"


def check_csv_structure(path: str | os.PathLike, where: str | None = None) -> int:
    """Parse `path` strictly; ValueError naming file and line on an unbalanced quote or a
    record whose field count differs from the header's. Returns the number of data records."""
    path = Path(path)
    where = where or str(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        start = 1  # physical line where the current record begins
        try:
            header = next(reader, None)
            if header is None:
                return 0
            n = 0
            start = reader.line_num + 1
            for record in reader:
                if record and len(record) != len(header):
                    raise ValueError(
                        f"{where}:{start}: {len(record)} fields where the header has {len(header)}; "
                        f"a stray comma or an unbalanced quote (a quoted field must end with \"): fix the file"
                    )
                n += bool(record)
                start = reader.line_num + 1
        except csv.Error as e:
            raise ValueError(f"{where}:{start}: broken CSV ({e}); an unbalanced quote? fix the file") from None
    return n


def check_unique(rows: Sequence[dict], keys: Sequence[str], where: str | os.PathLike) -> None:
    """ValueError naming the 1-based line of the first row whose `keys` repeat an earlier row's."""
    seen: dict[tuple, int] = {}
    for lineno, row in enumerate(rows, 1):
        ident = tuple(row.get(k) for k in keys)
        if ident in seen:
            raise ValueError(
                f"{where}:{lineno}: duplicate {'/'.join(keys)} {'/'.join(map(str, ident))} "
                f"(first on line {seen[ident]}); the file is corrupted, delete it and rerun the rule that makes it"
            )
        seen[ident] = lineno


def stamp_expected(rows: Iterable[dict]) -> list[dict]:
    """`rows` with the total count in each, for check_expected to compare against later."""
    rows = list(rows)
    return [{**row, EXPECTED: len(rows)} for row in rows]


def check_expected(rows: list[dict], path: str | os.PathLike, keys: Sequence[str] = ("split", "id")) -> list[dict]:
    """`rows` as they are if the file holds as many distinct rows as it says it should.

    A file without the count (written before it existed) passes; one that says it should
    hold more rows than it does was cut short, and is an error, never a full-coverage score.
    """
    counts = {row.get(EXPECTED) for row in rows}
    counts.discard(None)
    if len(counts) > 1:
        raise ValueError(f"{path}: rows disagree on {EXPECTED} ({sorted(counts)}); the file was "
                         f"pieced together from several runs: delete it and rerun the rule that makes it")
    if counts and len(rows) != next(iter(counts)):
        raise ValueError(f"{path}: holds {len(rows)} rows but was written with {next(iter(counts))}; "
                         f"it was cut short (a full disk or an interrupted copy?): delete it and rerun the rule that makes it")
    check_unique(rows, [k for k in keys if any(k in r for r in rows)] or ["id"], path)
    return rows
