"""The on-device SQLite store (sqlite-utils): schema, migrations, pragmas and transactions.

Design notes
- User ids appear in exactly one place, ``users.user_id`` (and its unique index); every other table refers to
  the integer ``uid``. SQLite index b-trees hold each key once (interior entries are real entries, not copies),
  so deleting the row removes every copy.
- ``secure_delete`` zeroes deleted cells and freed pages; erasure then checkpoints and truncates the WAL.
- Writes run in ``BEGIN IMMEDIATE`` transactions, retried while another connection holds the write lock, until
  a deadline; then :class:`StoreBusyError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import StoreBusyError, StoreError, StoreFullError

SCHEMA_VERSION = 2


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE users (uid INTEGER PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL);
CREATE UNIQUE INDEX users_user_id ON users(user_id);
CREATE TABLE items (
    iid INTEGER PRIMARY KEY, item_id TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    tags TEXT NOT NULL, meta TEXT NOT NULL, added_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE UNIQUE INDEX items_item_id ON items(item_id);
CREATE TABLE item_vectors (
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE, model_id TEXT NOT NULL,
    text_sha TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (iid, model_id));
CREATE TABLE item_stats (
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE, ctx TEXT NOT NULL, weight REAL NOT NULL,
    PRIMARY KEY (iid, ctx));
CREATE TABLE events (
    eid INTEGER PRIMARY KEY, uid INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE, kind TEXT NOT NULL, value REAL,
    at REAL NOT NULL, ctx TEXT NOT NULL DEFAULT '', context TEXT);
CREATE INDEX events_uid_at ON events(uid, at);
CREATE INDEX events_iid ON events(iid);
CREATE INDEX events_at ON events(at);
CREATE TABLE profiles (
    uid INTEGER PRIMARY KEY REFERENCES users(uid) ON DELETE CASCADE, text TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE profile_vectors (
    uid INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE, model_id TEXT NOT NULL, clauses TEXT NOT NULL,
    pos BLOB, neg BLOB, PRIMARY KEY (uid, model_id));
CREATE TABLE consents (
    cid INTEGER PRIMARY KEY, uid INTEGER NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    purpose TEXT NOT NULL, granted INTEGER NOT NULL, at REAL NOT NULL, source TEXT);
CREATE INDEX consents_uid_purpose ON consents(uid, purpose, cid);
CREATE TABLE audit (
    aid INTEGER PRIMARY KEY, at REAL NOT NULL, uid INTEGER REFERENCES users(uid) ON DELETE CASCADE,
    subject TEXT, action TEXT NOT NULL, purpose TEXT, details TEXT);
CREATE INDEX audit_uid ON audit(uid);
"""


def _migrate_1(db: sqlite_utils.Database) -> None:
    for stmt in _SCHEMA_1.split(";"):
        if stmt.strip():
            db.conn.execute(stmt)


def _migrate_2(db: sqlite_utils.Database) -> None:
    # (uid, iid): the distinct items a user touched, by skip-scan, in time bounded by items rather than events
    db.conn.execute("CREATE INDEX IF NOT EXISTS events_uid_iid ON events(uid, iid)")


# (version, migration). A migration runs inside the write transaction that bumps schema_version.
MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [(1, _migrate_1), (2, _migrate_2)]

# Tables holding rows about one user (joined by uid); export and erasure both walk this list.
USER_TABLES = ("events", "profiles", "profile_vectors", "consents", "audit")


class Store:
    """Owns one SQLite connection (thread-safe through a lock). Open several for several processes."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0, readonly: bool = False) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        if not readonly and self.path.parent and not self.path.parent.exists():
            raise StoreError(f"cannot open store {self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StoreError(f"cannot open store {self.path}: it is a directory")
        try:
            uri = f"file:{self.path}?mode=ro" if readonly else str(self.path)
            self.conn = sqlite3.connect(
                uri, uri=readonly, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA secure_delete = ON")
            if not readonly:
                self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.db = sqlite_utils.Database(self.conn)
            self._migrate()
        except sqlite3.DatabaseError as e:
            try:
                self.conn.close()
            except Exception:
                pass
            raise StoreError(f"cannot open store {self.path}: {e}") from None

    # --- transactions --------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], Any], deadline: float | None = None) -> Any:
        deadline = deadline if deadline is not None else time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                msg = str(e)
                if "locked" not in msg and "busy" not in msg:
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"store {self.path} stayed locked by another connection for {self.busy_timeout:.1f}s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all of it commits or none of it does."""
        with self._lock:
            if self.conn.in_transaction:  # nested: join the outer transaction through a savepoint
                with self.db.atomic():
                    yield self.conn
                return
            self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self.conn
                self._retry(lambda: self.conn.execute("COMMIT"))
            except BaseException as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise self._translate(e) from None
                raise

    def _translate(self, e: sqlite3.Error) -> StoreError:
        """A SQLite error as the SDK's own, saying what happened (the transaction has been rolled back)."""
        msg = str(e)
        if isinstance(e, sqlite3.OperationalError) and "full" in msg:
            return StoreFullError(
                f"store {self.path} is full ({msg}): the write was rolled back and nothing was changed; "
                "free disk space and retry"
            )
        if "locked" in msg or "busy" in msg:
            return StoreBusyError(f"store {self.path}: {msg}")
        return StoreError(f"store {self.path}: write failed and was rolled back ({type(e).__name__}: {msg})")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self._retry(lambda: self.conn.execute("BEGIN"))
            try:
                yield self.conn
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._retry(lambda: self.conn.execute(sql, params).fetchall())

    # --- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        def current() -> int:
            if "meta" not in self.db.table_names():
                return 0
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            return int(row[0]) if row else 0

        version = current()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this odrec supports "
                f"({SCHEMA_VERSION}); upgrade ondevice-rec"
            )
        if version == SCHEMA_VERSION:
            return
        with self.write() as conn:
            version = current()  # another process may have migrated while we waited for the lock
            for target, migration in MIGRATIONS:
                if target > version:
                    migration(self.db)
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (str(target),),
                    )
            if not conn.execute("SELECT 1 FROM meta WHERE key='audit_key'").fetchone():
                conn.execute("INSERT INTO meta(key, value) VALUES('audit_key', ?)", (os.urandom(32).hex(),))

    def meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def bump(self, conn: sqlite3.Connection, key: str) -> None:
        """Increment a version counter (e.g. catalog_version) inside the caller's transaction."""
        conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key,),
        )

    # --- users ---------------------------------------------------------------------------------
    def uid(self, user_id: str) -> int | None:
        rows = self.query("SELECT uid FROM users WHERE user_id=?", (user_id,))
        return rows[0][0] if rows else None

    def ensure_uid(self, conn: sqlite3.Connection, user_id: str) -> int:
        row = conn.execute("SELECT uid FROM users WHERE user_id=?", (user_id,)).fetchone()
        if row:
            return int(row[0])
        cur = conn.execute("INSERT INTO users(user_id, created_at) VALUES(?, ?)", (user_id, time.time()))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def audit(
        self,
        conn: sqlite3.Connection,
        action: str,
        *,
        uid: int | None = None,
        subject: str | None = None,
        purpose: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO audit(at, uid, subject, action, purpose, details) VALUES(?,?,?,?,?,?)",
            (time.time(), uid, subject, action, purpose, json.dumps(details or {}, sort_keys=True)),
        )

    # --- erasure support -----------------------------------------------------------------------
    def scrub(self) -> None:
        """Checkpoint and truncate the WAL so that erased bytes (zeroed in the database by secure_delete) are
        gone from the WAL too; the shared-memory index holds no row content."""
        with self._lock:
            deadline = time.monotonic() + self.busy_timeout
            while True:
                busy, _, _ = self._retry(
                    lambda: self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(), deadline
                )
                if not busy:
                    return
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"store {self.path}: erasure committed, but readers kept the WAL from being truncated; "
                        "call forget_user again when other connections are idle"
                    )
                time.sleep(0.02)

    def close(self) -> None:
        with self._lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
