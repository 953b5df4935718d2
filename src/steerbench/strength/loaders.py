"""Inputs of the strength analysis: MMLU, a held-out corpus, concept prompt sets.

Canonical sources are Hugging Face datasets (`cais/mmlu`, `wikitext`, a FineWeb-Edu
shard); every loader also takes local files:
- MMLU: a folder holding {dev,val,test}/<subject>_<split>.csv, headerless
  question,A,B,C,D,answer (the official CSV release).
- held-out text: a .txt file, one document per non-empty line (as HF `wikitext` rows).
- concept prompts: JSONL, one {"text": ...} per line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class MCQuestion:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # one of LETTERS


def _mmlu_csv(path: Path, subject: str) -> list[MCQuestion]:
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if len(row) != 6:
                raise ValueError(f"{path}:{n}: expected 6 columns (question,A,B,C,D,answer), got {len(row)}")
            answer = row[5].strip().upper()
            if answer not in LETTERS:
                raise ValueError(f"{path}:{n}: answer {row[5]!r} is not one of A, B, C, D")
            rows.append(MCQuestion(subject, row[0], tuple(row[1:5]), answer))
    if not rows:
        raise ValueError(f"{path}: no questions; the file is empty")
    return rows


def load_mmlu(source: str | Path, subjects: list[str] | None, split: str, limit: int | None = None) -> list[MCQuestion]:
    """MMLU questions of `subjects` (None: all in the folder) from `split` (dev, val or test).

    `source` "cais/mmlu" reads the Hugging Face dataset; anything else is a local folder.
    `limit` keeps the first N questions of each subject.
    """
    if split not in ("dev", "val", "test"):
        raise ValueError(f"MMLU split {split!r} is not one of dev, val, test")
    if str(source) == "cais/mmlu":
        return _mmlu_hub(subjects, split, limit)
    folder = Path(source) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no MMLU split folder; `mmlu.path` must hold dev/, val/, test/ with <subject>_<split>.csv files (or be cais/mmlu)")
    known = sorted(p.name[: -len(f"_{split}.csv")] for p in folder.glob(f"*_{split}.csv"))
    if subjects is None:
        subjects = known
    missing = [s for s in subjects if s not in known]
    if missing:
        raise ValueError(f"MMLU subjects {missing} have no file in {folder}; known: {', '.join(known) or 'none'}")
    out = []
    for subject in subjects:
        out += _mmlu_csv(folder / f"{subject}_{split}.csv", subject)[:limit]
    return out


def _mmlu_hub(subjects: list[str] | None, split: str, limit: int | None) -> list[MCQuestion]:
    from datasets import load_dataset

    hub_split = {"dev": "dev", "val": "validation", "test": "test"}[split]
    out = []
    for subject in subjects or ["all"]:
        rows = load_dataset("cais/mmlu", subject, split=hub_split)
        count: dict[str, int] = {}
        for r in rows:
            name = r.get("subject") or subject
            if limit is not None and count.get(name, 0) >= limit:
                continue
            count[name] = count.get(name, 0) + 1
            out.append(MCQuestion(name, r["question"], tuple(r["choices"]), LETTERS[int(r["answer"])]))
    return out


def load_heldout(source: str | Path, split: str = "test", config: str = "wikitext-2-raw-v1") -> list[str]:
    """Documents of a held-out corpus: a local .txt (one per non-empty line) or an HF dataset id."""
    path = Path(source)
    if path.suffix == ".txt" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"{source}: no held-out text file; give a .txt file (one document per line) or an HF dataset id such as wikitext")
        docs = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
        docs = [d for d in docs if d.strip()]
    else:
        from datasets import load_dataset

        rows = load_dataset(str(source), config, split=split) if str(source) == "wikitext" else load_dataset(str(source), split=split)
        docs = [r["text"] for r in rows if r["text"].strip()]
    if not docs:
        raise ValueError(f"{source}: the held-out corpus has no non-empty document")
    return docs


def load_prompts(path: str | Path, limit: int | None = None) -> list[str]:
    """The "text" of each line of a concept prompt JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no concept prompt file; give a JSONL file with one {{\"text\": ...}} per line")
    texts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise ValueError(f"{path}:{n}: each line must be an object with a non-empty string \"text\"")
        texts.append(record["text"])
    if not texts:
        raise ValueError(f"{path}: no prompts in the file")
    return texts[:limit] if limit else texts
