"""Reading the tabular files people already have: CSV (also as saved by Excel, with a byte-order mark), TSV
and JSON Lines, row by row with line numbers, so an import can name the first bad line. No SQL, no model."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError

FORMATS = ("csv", "tsv", "jsonl")
_ALIASES = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "ndjson": "jsonl"}


def file_format(path: Path, fmt: str | None, what: str = "file") -> str:
    """``fmt`` (csv, tsv or jsonl) or, when None, the one the file name says."""
    name = (fmt or path.suffix.lstrip(".")).lower()
    if name not in _ALIASES or (fmt is not None and name not in FORMATS):
        raise ImportFormatError(f"{path}: unknown {what} format {name!r} (use .csv, .tsv or .jsonl, or --format)")
    return _ALIASES[name]


def check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise ImportFormatError(f"{p}: no such file")
    if not p.is_file():
        raise ImportFormatError(f"{p}: not a file")
    return p


def read_rows(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    what: str = "file",
    required: tuple[str, ...] = (),
    hint: str = "name yours with the --…-col options",
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row as a mapping) for every data row; a UTF-8 byte-order mark is skipped. A CSV/TSV
    header must name the ``required`` columns (``hint`` says how to fix one that does not). Raises
    :class:`ImportFormatError` naming the file and line of the first row that cannot be read. The one reader
    of CSV, TSV and JSON Lines in the SDK: imports and evaluation datasets alike."""
    p = Path(path)
    kind = file_format(p, fmt, what)
    check_file(p)
    try:
        if kind == "jsonl":
            yield from _jsonl(p)
        else:
            yield from _delimited(p, "\t" if kind == "tsv" else ",", required, hint)
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{p}: not UTF-8 text ({e.reason}); save it as UTF-8 and try again") from None


def count_rows(path: str | os.PathLike[str], fmt: str | None = None) -> int:
    """How many data rows the file holds (for a progress bar), by a cheap line count."""
    p = check_file(path)
    with open(p, "rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(0, lines - (0 if file_format(p, fmt) == "jsonl" else 1))


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's bytes: the identity under which a resumable import records its progress."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ImportFormatError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ImportFormatError(f"{path}:{lineno}: each line must be a JSON object")
            yield lineno, row


def _delimited(
    path: Path, delimiter: str, required: tuple[str, ...], hint: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        try:
            fields = reader.fieldnames
        except csv.Error as e:
            raise ImportFormatError(f"{path}:1: cannot read the header ({e})") from None
        if not fields:
            raise ImportFormatError(f"{path}:1: the file is empty (a header row is needed)")
        if len(set(fields)) != len(fields):
            raise ImportFormatError(f"{path}:1: the header names a column twice ({fields})")
        missing = [c for c in required if c not in fields]
        if missing:
            raise ImportFormatError(
                f"{path}:1: the header has no {missing[0]!r} column (it has {list(fields)[:12]}; {hint})"
            )
        try:
            for row in reader:
                if None in row:
                    raise ImportFormatError(f"{path}:{reader.line_num}: more fields than the header has")
                yield reader.line_num, {k: v for k, v in row.items() if v is not None}
        except csv.Error as e:
            raise ImportFormatError(f"{path}:{reader.line_num}: {e}") from None
