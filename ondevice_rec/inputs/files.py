"""Reading the tabular files people already have: CSV (also as saved by Excel, with a byte-order mark), TSV
and JSON Lines, row by row with line numbers, so an import can name the first bad line. No SQL, no model."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ImportFormatError

FORMATS = ("csv", "tsv", "jsonl")
_ALIASES = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "ndjson": "jsonl"}


@dataclass(frozen=True)
class InMemoryFile:
    """A file's bytes held in memory — what ``odrec … import -`` reads from standard input — read like a file
    and never written anywhere (no temporary file outside the store)."""

    name: str
    data: bytes

    def __str__(self) -> str:
        return self.name

    def sniffed(self) -> str:
        """The format its first line suggests: a JSON object → jsonl, more tabs than commas → tsv, else csv."""
        head = self.data.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096].split(b"\n", 1)[0]
        if head.startswith(b"{"):
            return "jsonl"
        return "tsv" if head.count(b"\t") > head.count(b",") else "csv"


Source = str | os.PathLike[str] | InMemoryFile  # a file by name, or standard input read into memory


def file_format(path: Path | InMemoryFile, fmt: str | None, what: str = "file") -> str:
    """``fmt`` (csv, tsv or jsonl) or, when None, the one the file name says (standard input: its first line)."""
    if fmt is None and isinstance(path, InMemoryFile):
        return path.sniffed()
    name = (fmt or (path.suffix if isinstance(path, Path) else "").lstrip(".")).lower()
    if name not in _ALIASES or (fmt is not None and name not in FORMATS):
        raise ImportFormatError(f"{path}: unknown {what} format {name!r} (use .csv, .tsv or .jsonl, or --format)")
    return _ALIASES[name]


def is_delimited(path: Source, fmt: str | None, what: str = "file") -> bool:
    """Is the file CSV or TSV (where a line break inside an id or a title can only be an unclosed quote)?"""
    return file_format(path if isinstance(path, InMemoryFile) else Path(path), fmt, what) != "jsonl"


def spans_lines(path: Source, lineno: int, *fields: tuple[str, str]) -> None:
    """Refuse a CSV/TSV row whose one-line fields (ids, titles) hold a line break: a quote left open, which
    would merge the rows after it into this one."""
    for name, value in fields:
        if "\n" in value or "\r" in value:
            raise ImportFormatError(
                f"{path}:{lineno}: the {name} {value[:40]!r} spans lines: an {name} is one line (a quote left open "
                "merges the rows after it into it); nothing was imported"
            )


def check_file(path: Source) -> Path | InMemoryFile:
    if isinstance(path, InMemoryFile):
        return path
    p = Path(path)
    if not p.exists():
        raise ImportFormatError(f"{p}: no such file")
    if not p.is_file():
        raise ImportFormatError(f"{p}: not a file")
    return p


def _text(path: Path | InMemoryFile) -> IO[str]:
    """The file as text (UTF-8; a byte-order mark is skipped; newlines left to the CSV reader)."""
    if isinstance(path, InMemoryFile):
        return io.TextIOWrapper(io.BytesIO(path.data), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_rows(
    path: Source,
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
    p = path if isinstance(path, InMemoryFile) else Path(path)
    check_file(p)  # a missing file or a directory is named as such, before its name is read for a format
    kind = file_format(p, fmt, what)
    try:
        if kind == "jsonl":
            yield from _jsonl(p)
        else:
            yield from _delimited(p, "\t" if kind == "tsv" else ",", required, hint)
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{p}: not UTF-8 text ({e.reason}); save it as UTF-8 and try again") from None


def file_digest(path: Source) -> str:
    """sha256 of the file's bytes: the identity under which a resumable import records its progress."""
    if isinstance(path, InMemoryFile):
        return hashlib.sha256(path.data).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_int(digits: str) -> int | float:
    """A JSON integer as ``json.loads(..., parse_int=json_int)`` reads it: an int while a float can hold it,
    past that a float (inf beyond 1e308), so hundreds of digits are refused as a non-finite number rather than
    overflowing a float conversion or Python's 4300-digit limit on parsing an int."""
    return int(digits) if len(digits) <= 300 else float(digits)


def _jsonl(path: Path | InMemoryFile) -> Iterator[tuple[int, dict[str, Any]]]:
    with _text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_int=json_int)
            except json.JSONDecodeError as e:
                raise ImportFormatError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            except RecursionError:
                raise ImportFormatError(f"{path}:{lineno}: the JSON is nested too deeply to read") from None
            if not isinstance(row, dict):
                raise ImportFormatError(f"{path}:{lineno}: each line must be a JSON object")
            yield lineno, row


def _delimited(
    path: Path | InMemoryFile, delimiter: str, required: tuple[str, ...], hint: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    with _text(path) as f:
        reader = csv.DictReader(f, delimiter=delimiter, strict=True)  # strict: a quote open at the end fails
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
        end = reader.line_num
        try:
            for row in reader:
                # a record spanning lines (a quoted line break) is named by its first line; others by their own
                multi = any(isinstance(v, str) and ("\n" in v or "\r" in v) for v in row.values())
                start, end = (end + 1 if multi else reader.line_num), reader.line_num
                if None in row:
                    raise ImportFormatError(f"{path}:{start}: more fields than the header has")
                yield start, {k: v for k, v in row.items() if v is not None}
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                raise ImportFormatError(
                    f"{path}:{end + 1}: a quote opened on this row is never closed (it runs to the end of the file, "
                    "taking every row after it); nothing was imported"
                ) from None
            raise ImportFormatError(f"{path}:{reader.line_num}: {e}") from None
