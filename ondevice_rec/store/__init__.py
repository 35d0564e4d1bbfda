"""The on-device SQLite store. ``db`` (connection, pragmas, transactions), ``schema`` (migrations),
``vectors`` (blob codec) and one module per group of tables, each holding every statement about its tables:
``catalog`` (items, vectors, popularity priors), ``events`` (events, profiles), ``users`` (users, consents,
audit, export and erasure rows)."""

from .catalog import CatalogRows
from .db import Store
from .events import EventRow
from .schema import SCHEMA_VERSION, USER_TABLES

__all__ = ["SCHEMA_VERSION", "USER_TABLES", "CatalogRows", "EventRow", "Store"]
