"""Acquire raw data: Hugging Face hub, Kaggle competitions, or local files.

Every failure names its fix: an unreachable hub says to set `path:`, missing Kaggle
credentials say where `kaggle.json` goes (or where to put a manual download), a file
with missing columns lists them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from steerbench.integrity import check_csv_structure
from steerbench.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd


def config_key(task: str, *keys: str) -> str:
    return ".".join(["tasks", task, "source", *keys])


def source_kind(source: Any, allowed: Iterable[str], where: str) -> str:
    """The one acquisition key a source block uses (`hub`, `kaggle`, `path`)."""
    allowed = list(allowed)
    if not isinstance(source, dict):
        raise ValueError(f"{where}: expected a mapping with one of {allowed}, got {source!r}")
    kinds = [k for k in allowed if source.get(k)]
    if len(kinds) != 1:
        raise ValueError(
            f"{where}: give exactly one of {allowed} (got {sorted(source) or 'nothing'}); "
            f"e.g. `path: <local file>` to use a file you downloaded"
        )
    return kinds[0]


def require_file(path: str | os.PathLike, where: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: {path}: no such file; fix the path or remove `path:` to download it")
    return path


def require_columns(present: Iterable[str], required: Iterable[str], where: str) -> None:
    present = set(present)
    missing = [c for c in required if c not in present]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; found {sorted(present)}. "
            f"The file must be in the canonical format of its dataset"
        )


def read_csv(path: str | os.PathLike, required: Iterable[str], where: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV (a UTF-8 byte-order mark is dropped) and check its columns."""
    # Imported here: pandas costs every job that imports a task ~0.5 s; only formatting reads CSV.
    import pandas as pd

    path = Path(path)
    where = where or str(path)
    # pandas merges rows across an unterminated quote without a word: parse strictly first.
    check_csv_structure(path, where)
    try:
        # keep_default_na=False: an answer like "None" must stay text, not NaN.
        df = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where}: the file is empty; it needs a header row and data rows") from None
    require_columns(df.columns, required, where)
    return df


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of a JSONL file, or of a JSON file holding a list of objects."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg}); expected one JSON object a line") from None
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise ValueError(f"{path}: row {bad + 1} is not a JSON object")
    return rows


def progress(iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
    """`iterable` with progress for long conversions (a bar, or lines in a log)."""
    from steerbench.progress import progress_iter

    return progress_iter(iterable, desc, total, unit="row")


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def read_zip_member(zip_path: Path, member: str) -> bytes:
    """The bytes of `member` (matched by file name, any folder) inside a zip."""
    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if Path(n).name == member]
        if names:
            return zf.read(names[0])
        # Kaggle competition zips nest per-file zips (train.csv.zip).
        nested = [n for n in zf.namelist() if Path(n).name == member + ".zip"]
        if nested:
            with zipfile.ZipFile(io.BytesIO(zf.read(nested[0]))) as inner:
                inner_names = [n for n in inner.namelist() if Path(n).name == member]
                if inner_names:
                    return inner.read(inner_names[0])
        raise ValueError(f"{zip_path}: no {member} inside the zip (found {zf.namelist()[:10]})")


# ---------------------------------------------------------------- Hugging Face hub


def load_hub_split(repo: str, split: str, where: str, config: str | None = None, revision: str | None = None):
    """`datasets.load_dataset(repo, config, split=split)`, with errors that name the fix."""
    try:
        import datasets
    except ImportError:
        raise ImportError(f"{where}: the `datasets` package is needed to fetch {repo}; pip install datasets, or set `path:`") from None
    try:
        return datasets.load_dataset(repo, config, split=split, revision=revision)
    except (ConnectionError, TimeoutError) as e:
        raise ConnectionError(
            f"{where}: could not reach the Hugging Face hub for {repo} ({e}); run the download on a "
            f"machine with internet, or download the data elsewhere and put `path: <local file>` "
            f"in place of `hub:` in {where.removesuffix('.hub')} (see the task's docs for the file format)"
        ) from None
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{where}: dataset {repo} not found on the hub ({e}); check the id or set `path:`") from None
    except ValueError as e:
        # Unknown split or config name.
        raise ValueError(f"{where}: {repo} has no split {split!r} / config {config!r} ({e})") from None


# ---------------------------------------------------------------- Kaggle


def kaggle_config_dir() -> Path:
    """Where the `kaggle` client looks for kaggle.json (its own rule: ~/.kaggle, else ~/.config/kaggle)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"])
    home = Path.home() / ".kaggle"
    xdg = Path.home() / ".config" / "kaggle"
    return xdg if not home.exists() and xdg.exists() else home


def kaggle_download(competition: str, filename: str, out_dir: Path, where: str, manual_hint: str) -> Path:
    """Download one file of a Kaggle competition into out_dir; returns the file (unzipped)."""
    page = f"https://www.kaggle.com/competitions/{competition}"
    try:
        # `import kaggle` tries to log in and prints help when it cannot: keep that off stdout.
        with contextlib.redirect_stdout(sys.stderr):
            from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise ImportError(f"{where}: the optional `kaggle` package is not installed: pip install kaggle; or {manual_hint}") from None
    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            api.authenticate()  # exits (SystemExit) when no credentials are found
    except (Exception, SystemExit) as e:
        detail = f" ({e})" if not isinstance(e, SystemExit) else ""
        raise PermissionError(
            f"{where}: no usable Kaggle credentials{detail}: create an API token at "
            f"https://www.kaggle.com/settings and save it as {kaggle_config_dir() / 'kaggle.json'} "
            f"(chmod 600), or export KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN); or {manual_hint}"
        ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            api.competition_download_file(competition, filename, path=str(out_dir), quiet=True)
    except Exception as e:
        response = getattr(e, "response", None)
        status = getattr(response, "status_code", None) or getattr(e, "status", None)
        text = f"{e} {getattr(response, 'text', '')}".lower()
        if status == 403 or "rules" in text:
            raise PermissionError(
                f"{where}: Kaggle refused the download of {competition} (HTTP {status}): accept the "
                f"competition rules at {page}/rules while logged in to the account of your token, "
                f"then rerun; or {manual_hint}"
            ) from None
        if status == 401:
            raise PermissionError(
                f"{where}: Kaggle rejected the credentials (HTTP 401); renew the token in "
                f"{kaggle_config_dir() / 'kaggle.json'}; or {manual_hint}"
            ) from None
        if status == 404:
            raise FileNotFoundError(f"{where}: Kaggle has no file {filename} in competition {competition} (HTTP 404)") from None
        raise ConnectionError(f"{where}: Kaggle download of {competition}/{filename} failed ({e}); or {manual_hint}") from None
    plain, zipped = out_dir / filename, out_dir / (filename + ".zip")
    if zipped.is_file():
        data = read_zip_member(zipped, filename)
        with atomic_path(plain) as tmp:
            tmp.write_bytes(data)
        zipped.unlink()
    if not plain.is_file():
        raise FileNotFoundError(f"{where}: Kaggle reported success but {plain} is missing; or {manual_hint}")
    return plain
