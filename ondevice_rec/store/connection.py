"""What a table needs from the open store: transactions, one-off queries and the meta table. The tables are
typed against this protocol, so they depend on this leaf module and not on :class:`~ondevice_rec.store.Store`
(which implements it and owns the tables)."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class Connection(Protocol):
    path: Path
    readonly: bool
    encrypted: bool  # then nothing is written beside the store file (no vector cache, no ANN index)

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (retried while the file is busy, errors translated to StoreError)."""
        ...

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """One consistent read."""
        ...

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...

    def meta(self, key: str, default: str | None = None) -> str | None: ...

    def meta_in(self, conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None: ...

    def bump(self, conn: sqlite3.Connection, key: str) -> None: ...

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None: ...
