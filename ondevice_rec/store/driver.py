"""Which SQLite a store runs on: the standard library's for a plain store, SQLCipher's (the ``encryption`` extra,
``sqlcipher3``) for an encrypted one.

SQLCipher encrypts every page of the database and of its WAL with AES-256 (the -shm index holds no row content);
the key is either a passphrase (stretched by SQLCipher's PBKDF2, 256,000 iterations: about a tenth of a second
per open) or 32 raw bytes (no stretching; for a key that is already random, e.g. one kept in the OS keychain).
The two drivers raise different exception classes, so the store catches the tuples below.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError, StoreError, WrongKeyError, missing_extra

try:
    from sqlcipher3 import dbapi2 as _sqlcipher
except ImportError:  # the extra is optional: plain stores need nothing from it
    _sqlcipher = None

_CIPHER: tuple[Any, ...] = (_sqlcipher,) if _sqlcipher is not None else ()
Error: tuple[type[Exception], ...] = (sqlite3.Error, *(m.Error for m in _CIPHER))
DatabaseError: tuple[type[Exception], ...] = (sqlite3.DatabaseError, *(m.DatabaseError for m in _CIPHER))
OperationalError: tuple[type[Exception], ...] = (sqlite3.OperationalError, *(m.OperationalError for m in _CIPHER))

HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every plain SQLite file; an encrypted one starts with salt
Key = str | bytes


def check_key(key: object) -> Key | None:
    """``key`` if it can key a store: a non-empty passphrase, or exactly 32 raw bytes. A str of exactly 64 hex
    digits is those 32 bytes, as ``odrec store keygen`` writes them and the CLI's key file reads them, so one
    key means the same store in Python and on the command line."""
    if key is None:
        return None
    if isinstance(key, str):
        if not key:
            raise ArgumentError("encryption_key must not be empty")
        if "\x00" in key or not _encodable(key):
            raise ArgumentError("encryption_key must be text without NUL characters or lone surrogates")
        if len(key) == 64 and all(c in "0123456789abcdefABCDEF" for c in key):
            return bytes.fromhex(key)
        return key
    if isinstance(key, (bytes, bytearray)):
        if len(key) != 32:
            raise ArgumentError(f"encryption_key as bytes must be 32 raw bytes (AES-256), got {len(key)}")
        return bytes(key)
    raise ArgumentTypeError(f"encryption_key must be str (a passphrase) or 32 bytes, got {type(key).__name__}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_pragma(key: Key) -> str:
    """The value of ``PRAGMA key`` / ``PRAGMA rekey`` for ``key`` (a literal: pragmas take no parameters)."""
    if isinstance(key, bytes):
        return f"\"x'{key.hex()}'\""
    return "'" + key.replace("'", "''") + "'"


def is_plain(path: Path) -> bool | None:
    """True for a plain SQLite file, False for one that is not (encrypted, or not a database at all), None
    when there is no file or it is empty (a new store)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(HEADER))
    except FileNotFoundError:
        return None
    except OSError:
        return None  # unreadable: the connection reports it in its own words
    if not head:
        return None
    return head == HEADER


def connect(target: str, *, uri: bool, timeout: float, key: Key | None, path: Path) -> sqlite3.Connection:
    """A connection to ``target`` (a path, or a ``file:`` URI when ``uri``), keyed when ``key`` is given.

    A plain file opened with a key, an encrypted one opened without, and a wrong key each raise one line."""
    plain = is_plain(path)
    if key is None:
        if plain is False:
            raise WrongKeyError(
                f"cannot open store {path}: it is encrypted (or not an SQLite file); "
                "open it with its key (encryption_key=, or --key-file / ODREC_KEY_FILE)"
            )
        return sqlite3.connect(target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False)
    if _sqlcipher is None:
        raise missing_extra("encryption", "sqlcipher3", "an encrypted store is opened with SQLCipher")
    if plain is True:
        raise WrongKeyError(
            f"cannot open store {path} with a key: it is not encrypted; open it without one (unset ODREC_KEY_FILE) "
            f"or encrypt a copy with 'odrec --key-file KEY store encrypt {path} NEW.db'"
        )
    conn: Any = _sqlcipher.connect(target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our one-line error, not SQLCipher's log
        conn.execute(f"PRAGMA key = {key_pragma(key)}")
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts and temporary indexes never touch the disk
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except _sqlcipher.DatabaseError as e:
        conn.close()
        if "not a database" in str(e):  # SQLCipher's answer to a key that does not decrypt page 1
            raise WrongKeyError(f"cannot open store {path}: wrong encryption key") from None
        raise  # busy, locked, cannot open (a read-only directory): the store handles it as for a plain file
    return conn


def encrypt_copy(src: Path, dst: Path, key: Key) -> None:
    """Write an encrypted copy of the plain store ``src`` to ``dst`` (which must not exist): SQLCipher's
    ``sqlcipher_export`` copies schema and rows page by page; ``dst`` is complete or removed."""
    if _sqlcipher is None:
        raise missing_extra("encryption", "sqlcipher3", "an encrypted store is written with SQLCipher")
    if not src.is_file():
        raise StoreError(f"cannot encrypt {src}: no such file")
    if is_plain(src) is not True:
        raise StoreError(f"cannot encrypt {src}: it is not a plain SQLite store (already encrypted?)")
    if dst.exists():
        raise StoreError(f"cannot write {dst}: it exists (choose a new path)")
    conn: Any = _sqlcipher.connect(f"file:{src}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        material = f"x'{key.hex()}'" if isinstance(key, bytes) else key  # SQLCipher's raw-key form
        conn.execute("ATTACH DATABASE ? AS enc KEY ?", (str(dst), material))
        conn.execute("SELECT sqlcipher_export('enc')")
        conn.execute("DETACH DATABASE enc")
    except _sqlcipher.Error as e:
        conn.close()
        for p in (dst, Path(f"{dst}-wal"), Path(f"{dst}-shm"), Path(f"{dst}-journal")):
            p.unlink(missing_ok=True)
        raise StoreError(f"cannot encrypt {src} into {dst}: {e}") from None
    conn.close()
