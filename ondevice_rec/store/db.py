"""The SQLite connection of one store (sqlite-utils): pragmas, transactions, retries, meta counters.

- ``secure_delete`` zeroes deleted cells and freed pages; erasure then checkpoints and truncates the WAL
  (:meth:`Store.scrub`).
- Writes run in ``BEGIN IMMEDIATE`` transactions, retried while another connection holds the write lock, until
  a deadline; then :class:`StoreBusyError`.
- Every SQL statement about a table lives in that table's module (``catalog``, ``events``, ``users``); this
  module only knows connections, transactions and the ``meta`` key/value table.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import ArgumentError, StoreBusyError, StoreError, StoreFullError
from . import driver, schema
from .catalog import CatalogTable
from .events import EventsTable, ProfilesTable
from .users import AuditTable, ConsentsTable, PurposesTable, UsersTable


def _damaged(e: Exception) -> bool:
    msg = str(e).lower()
    return "malformed" in msg or "not a database" in msg or "corrupt" in msg or "disk i/o" in msg


# durability → SQLite's synchronous setting in WAL mode. "normal": a commit survives the application crashing or
# being killed; a power loss or OS crash may roll back the last commits (never corrupt the file). "full": every
# commit is on disk (fsync of the WAL) before it returns, so it survives a power loss too; one fsync per write.
DURABILITY = {"normal": "NORMAL", "full": "FULL"}


class Store:
    """Owns one SQLite connection (thread-safe through a lock) and the tables over it. Open one per process
    (or several: each is an independent connection)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        readonly: bool = False,
        durability: str = "normal",
        encryption_key: driver.Key | None = None,
    ) -> None:
        key = driver.check_key(encryption_key)
        if durability not in DURABILITY:
            raise ArgumentError(f"durability must be one of {', '.join(DURABILITY)}, got {durability!r}")
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.readonly = readonly
        # an encrypted store writes nothing readable beside itself: no vector cache, no ANN index file
        self.encrypted = key is not None
        self._lock = threading.RLock()
        if not readonly and self.path.parent and not self.path.parent.exists():
            raise StoreError(f"cannot open store {self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StoreError(f"cannot open store {self.path}: it is a directory")
        try:
            uri = f"file:{self.path}?mode=ro" if readonly else str(self.path)
            self.conn = self._connect(uri, readonly, key)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA secure_delete = ON")
            if not readonly:
                self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self.conn.execute(f"PRAGMA synchronous = {DURABILITY[durability]}")
            self.db = sqlite_utils.Database(self.conn)
            self._migrate()
        except driver.DatabaseError as e:
            try:
                self.conn.close()
            except Exception:
                pass
            if _damaged(e):
                raise self.damaged(e) from None
            raise StoreError(f"cannot open store {self.path}: {e}") from None
        except BaseException:
            if hasattr(self, "conn"):
                self.conn.close()
            raise
        self.catalog = CatalogTable(self)
        self.events = EventsTable(self)
        self.profiles = ProfilesTable(self)
        self.users = UsersTable(self)
        self.consents = ConsentsTable(self)
        self.audit = AuditTable(self)
        self.purposes = PurposesTable(self)

    def _connect(self, uri: str, readonly: bool, key: driver.Key | None) -> sqlite3.Connection:
        if not readonly:
            return driver.connect(uri, uri=False, timeout=self.busy_timeout, key=key, path=self.path)
        try:
            conn = driver.connect(uri, uri=True, timeout=self.busy_timeout, key=key, path=self.path)
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except BaseException:
                conn.close()
                raise
            return conn
        except driver.OperationalError:
            # a WAL store in a directory we cannot write (no -shm can be made): read it as immutable
            immutable = f"file:{self.path}?immutable=1"
            return driver.connect(immutable, uri=True, timeout=self.busy_timeout, key=key, path=self.path)

    # --- transactions --------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], Any], deadline: float | None = None) -> Any:
        deadline = deadline if deadline is not None else time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return fn()
            except driver.OperationalError as e:
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
            try:
                self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            except driver.Error as e:
                raise self._translate(e) from None
            try:
                yield self.conn
                self._retry(lambda: self.conn.execute("COMMIT"))
            except BaseException as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if isinstance(e, driver.Error):
                    raise self._translate(e) from None
                raise

    def _translate(self, e: Exception) -> StoreError:
        """A SQLite error as the SDK's own, saying what happened (the transaction has been rolled back)."""
        msg = str(e)
        if isinstance(e, driver.OperationalError) and "full" in msg:
            return StoreFullError(
                f"store {self.path} is full ({msg}): the write was rolled back and nothing was changed; "
                "free disk space and retry"
            )
        if "locked" in msg or "busy" in msg:
            return StoreBusyError(f"store {self.path}: {msg}")
        if "disk i/o" in msg.lower():  # EIO, or a file-size limit (EFBIG): the disk refused, the file is sound
            return StoreError(
                f"store {self.path}: the disk refused a write ({msg}); that write was rolled back; "
                f"check free space and the disk, then retry ('odrec doctor {self.path}' checks the file)"
            )
        if _damaged(e):
            return self.damaged(e)
        if "readonly" in msg or "read-only" in msg:
            return StoreError(f"store {self.path} is read-only: nothing was written ({msg})")
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
            except driver.DatabaseError as e:
                if isinstance(e, driver.OperationalError) and not _damaged(e):
                    raise
                raise self.damaged(e) from None
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._retry(lambda: self.conn.execute(sql, params).fetchall()))
            except driver.DatabaseError as e:
                if isinstance(e, driver.OperationalError) and not _damaged(e):
                    raise
                raise self.damaged(e) from None

    def damaged(self, e: Exception) -> StoreError:
        """A read or write that found the file damaged, as one line saying what to do."""
        if self.encrypted and "not a database" in str(e):
            return StoreError(
                f"store {self.path} no longer opens with this connection's key: another one changed it (rekey), "
                "or the file is damaged; reopen it with its current key"
            )
        return StoreError(
            f"store {self.path} is damaged ({e}); check it with 'odrec doctor {self.path}' "
            f"(and recover what can be read with 'odrec doctor {self.path} --recover NEW.db')"
        )

    # --- schema --------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = schema.current_version(self.conn)
        if version < 0:
            raise self.damaged(sqlite3.DatabaseError("its schema version record is missing or unreadable"))
        if self.readonly:
            if version == 0:
                raise StoreError(f"cannot open store {self.path} read-only: it is not an odrec store (empty)")
            if version != schema.SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}; open it read-write once to migrate it to "
                    f"{schema.SCHEMA_VERSION}"
                )
            return
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this odrec supports "
                f"({schema.SCHEMA_VERSION}); upgrade ondevice-rec"
            )
        if version == schema.SCHEMA_VERSION:
            return
        with self.write() as conn:
            # another process may have migrated while we waited for the lock
            schema.migrate(conn, max(0, schema.current_version(conn)))

    # --- meta -----------------------------------------------------------------------------------
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

    @staticmethod
    def meta_in(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
        """A meta value read inside the caller's transaction."""
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def integrity(self) -> list[str]:
        """SQLite's integrity_check: ["ok"] for a sound file, else what it found."""
        try:
            return [str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchall()]
        except driver.DatabaseError as e:
            return [str(e)]

    def data_version(self) -> int:
        """SQLite's ``data_version``: changes when another connection commits (cheap change detection)."""
        return int(self.query("PRAGMA data_version")[0][0])

    @property
    def lock(self) -> threading.RLock:
        """The connection's lock (re-entrant): held across several calls, no other thread writes between them."""
        return self._lock

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever something was written since it was last read: by another connection
        (``data_version``) or by this one (``total_changes``). One pragma, no table read."""
        with self._lock:
            return int(self._retry(lambda: self.conn.execute("PRAGMA data_version").fetchone())[0]), int(
                self.conn.total_changes
            )

    def rekey(self, new_key: driver.Key) -> None:
        """Re-encrypt this (encrypted) store with ``new_key``: SQLCipher rewrites every page in one transaction,
        then the WAL is checkpointed into the file, which the new key is checked to open. Other connections
        open on the store keep the old key and fail from then on (one line): rekey a store no one else has open."""
        key = driver.check_key(new_key)
        if not self.encrypted or key is None:
            raise StoreError(f"store {self.path} is not encrypted: encrypt a copy with 'odrec store encrypt'")
        if self.readonly:
            raise StoreError(f"store {self.path} is open read-only: it cannot be rekeyed")
        with self._lock:
            try:
                self._retry(lambda: self.conn.execute(f"PRAGMA rekey = {driver.key_pragma(key)}").fetchall())
            except driver.Error as e:
                raise StoreError(f"store {self.path}: rekey failed ({e}); the old key still opens it") from None
            # the re-encrypted pages are in the WAL until a checkpoint: write them into the file now, so the
            # old key (perhaps leaked) opens nothing
            self.scrub()
        driver.connect(str(self.path), uri=False, timeout=self.busy_timeout, key=key, path=self.path).close()

    # --- erasure support -----------------------------------------------------------------------
    def scrub(self) -> None:
        """Checkpoint and truncate the WAL so that erased bytes (zeroed in the database by secure_delete) are
        gone from the WAL too; the shared-memory index holds no row content."""
        with self._lock:
            deadline = time.monotonic() + self.busy_timeout
            while True:
                try:
                    busy, _, _ = self._retry(
                        lambda: self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone(), deadline
                    )
                except driver.Error as e:
                    raise StoreError(
                        f"store {self.path}: erasure committed, but the disk refused to rewrite the file ({e}), so "
                        "erased bytes may remain in its WAL; call forget_user again once the disk is sound"
                    ) from None
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
            except driver.Error:
                pass
