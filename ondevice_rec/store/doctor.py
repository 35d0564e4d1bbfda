"""Checking and salvaging a damaged store file, without the Store class (which refuses damaged files):
SQLite's ``integrity_check``, and a recovery that copies every readable row into a new file — SQLite's own
``VACUUM INTO`` when the file allows it, else table by table, row range by row range, skipping what cannot
be read. Every statement about it is here."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from . import driver
from .driver import Key


@dataclass(frozen=True)
class Diagnosis:
    path: str
    ok: bool
    problems: list[str] = field(default_factory=list)  # what integrity_check reported (first 20 lines)
    schema_version: str | None = None
    tables: dict[str, int] = field(default_factory=dict)  # rows readable per table (-1: unreadable)


@dataclass(frozen=True)
class Recovery:
    source: str
    target: str
    method: str  # "vacuum-into" or "row-by-row"
    rows: dict[str, int] = field(default_factory=dict)  # rows copied per table
    lost: dict[str, int] = field(default_factory=dict)  # row ranges that could not be read, per table


def _connect(path: Path, key: Key | None) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no file at {path}")
    if key is None and driver.is_plain(path) is False:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)  # diagnosed as unreadable
    try:
        return driver.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, key=key, path=path)
    except driver.Error as e:
        raise StoreError(f"cannot open {path}: {e}") from None


def _create(path: Path, key: Key | None) -> sqlite3.Connection:
    """The new file a recovery writes (keyed like its source)."""
    return driver.connect(str(path), uri=False, timeout=5.0, key=key, path=path)


def diagnose(path: str | os.PathLike[str], key: Key | None = None) -> Diagnosis:
    """What is wrong with the file at ``path`` (nothing is written); ``key`` for an encrypted store."""
    p = Path(path)
    conn = _connect(p, key)
    try:
        try:
            lines = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
        except driver.DatabaseError as e:
            hint = "; encrypted stores need their --key-file" if key is None and driver.is_plain(p) is False else ""
            return Diagnosis(str(p), False, [f"{e} (not a readable SQLite database{hint})"])
        version = None
        tables: dict[str, int] = {}
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = str(row[0]) if row else None
        except driver.DatabaseError:
            pass
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        except driver.DatabaseError:
            names = []
        for name in names:
            try:
                tables[name] = int(conn.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0])
            except driver.DatabaseError + (StoreError,):  # unreadable, or a name no statement can hold
                tables[name] = -1
        return Diagnosis(str(p), lines == ["ok"], [] if lines == ["ok"] else lines, version, tables)
    finally:
        conn.close()


def recover(path: str | os.PathLike[str], target: str | os.PathLike[str], key: Key | None = None) -> Recovery:
    """Copy what can be read from ``path`` into a new file ``target`` (which must not exist); an encrypted
    store (``key``) is recovered into a file encrypted with the same key."""
    src, dst = Path(path), Path(target)
    if dst.exists():
        raise StoreError(f"{dst} already exists: recovery writes a new file")
    if not dst.parent.is_dir():
        raise StoreError(f"cannot write {dst}: directory {dst.parent} does not exist")
    conn = _connect(src, key)
    try:
        try:
            conn.execute("VACUUM INTO ?", (str(dst),))  # SQLCipher's VACUUM INTO keeps the source's key
            out = _create(dst, key)
            try:
                if out.execute("PRAGMA integrity_check").fetchone()[0] == "ok":
                    rows = _counts(out)
                    return Recovery(str(src), str(dst), "vacuum-into", rows, {})
            finally:
                out.close()
            dst.unlink()
        except driver.DatabaseError:
            if dst.exists():
                dst.unlink()
        return _row_by_row(conn, src, dst, key)
    finally:
        conn.close()


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {n: int(conn.execute(f"SELECT count(*) FROM {quote_ident(n)}").fetchone()[0]) for n in names}


def _row_by_row(conn: sqlite3.Connection, src: Path, dst: Path, key: Key | None) -> Recovery:
    try:
        schema = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    except driver.DatabaseError as e:
        raise StoreError(f"{src}: even the schema cannot be read ({e}); nothing can be recovered") from None
    out = _create(dst, key)
    rows: dict[str, int] = {}
    lost: dict[str, int] = {}
    try:
        for kind, _name, sql in schema:
            if kind == "table":
                out.execute(sql)
        for kind, name, _ in schema:
            if kind != "table":
                continue
            rows[name], lost[name] = _copy_table(conn, out, name)
        for kind, _, sql in schema:
            if kind in ("index", "trigger", "view"):
                try:
                    out.execute(sql)
                except driver.DatabaseError:
                    pass  # a unique index the surviving rows violate: the rows matter more
    finally:
        out.close()
    return Recovery(str(src), str(dst), "row-by-row", rows, {k: v for k, v in lost.items() if v})


# a damaged table is read in rowid ranges; reading gives up on it after this many consecutive unreadable ranges
# (a garbage max(rowid) from a damaged page can be 2**63: stepping through it would never end) or this long
RECOVERY_MAX_BAD_RANGES = 200
RECOVERY_TABLE_SECONDS = 60.0


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier, whatever it holds: table names come from the file being diagnosed, which
    may be damaged or crafted ("x"; DROP TABLE users; --" stays one name)."""
    if "\x00" in name:
        raise StoreError("a table name in this file holds a NUL character")
    return '"' + name.replace('"', '""') + '"'


def _copy_table(conn: sqlite3.Connection, out: sqlite3.Connection, name: str) -> tuple[int, int]:
    """Copy ``name`` range by range from the next readable rowid on (so gaps cost nothing); a range that cannot
    be read is retried row by row, then skipped. Bounded: it stops after :data:`RECOVERY_MAX_BAD_RANGES`
    unreadable ranges in a row or :data:`RECOVERY_TABLE_SECONDS`, whatever the damage."""
    import time

    copied = skipped = bad = 0
    table = quote_ident(name)
    step = 500
    deadline = time.monotonic() + RECOVERY_TABLE_SECONDS
    out.execute("BEGIN")
    lo = -(1 << 63)
    while bad < RECOVERY_MAX_BAD_RANGES and time.monotonic() < deadline:
        try:
            batch = conn.execute(
                f"SELECT rowid, * FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT ?", (lo, step)
            ).fetchall()
            if not batch:
                break
            nxt, bad = int(batch[-1][0]) + 1, 0
        except driver.DatabaseError:
            bad += 1
            lo = max(lo, 0)
            batch = []
            for rid in range(lo, lo + step):
                try:
                    batch.extend(conn.execute(f"SELECT rowid, * FROM {table} WHERE rowid = ?", (rid,)).fetchall())
                except driver.DatabaseError:
                    skipped += 1
            nxt = lo + step
        for row in batch:
            marks = ",".join("?" * (len(row) - 1))
            try:
                out.execute(f"INSERT INTO {table} VALUES ({marks})", row[1:])
                copied += 1
            except driver.DatabaseError:
                skipped += 1
        if nxt > (1 << 63) - 1:
            break
        lo = nxt
    out.execute("COMMIT")
    return copied, skipped
