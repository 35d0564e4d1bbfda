"""The store's schema and its migrations: the only place that creates or alters tables.

Design notes
- User ids appear in exactly one place, ``users.user_id`` (and its unique index); every other table refers to
  the integer ``uid``. SQLite index b-trees hold each key once (interior entries are real entries, not copies),
  so deleting the row removes every copy.
- A migration runs inside the write transaction that bumps ``meta.schema_version``.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable

from .title_keys import short_title_key, title_key

SCHEMA_VERSION = 7

# Tables holding rows about one user (joined by uid); export and erasure both walk this list.
USER_TABLES = ("events", "profiles", "profile_vectors", "consents", "audit")

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


def _migrate_1(conn: sqlite3.Connection) -> None:
    for stmt in _SCHEMA_1.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _migrate_2(conn: sqlite3.Connection) -> None:
    # (uid, iid): the distinct items a user touched, by skip-scan, in time bounded by items rather than events
    conn.execute("CREATE INDEX IF NOT EXISTS events_uid_iid ON events(uid, iid)")


def _add_column(conn: sqlite3.Connection, table: str, column: str) -> None:
    """ALTER TABLE … ADD COLUMN, skipped when the column is already there (a migration may be re-run)."""
    name = column.split()[0]
    if name not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _migrate_3(conn: sqlite3.Connection) -> None:
    # purposes the app declared (consent can only be given for a declared purpose)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS purposes (purpose TEXT PRIMARY KEY, description TEXT NOT NULL, "
        "declared_at REAL NOT NULL)"
    )
    conn.execute(
        "INSERT OR IGNORE INTO purposes(purpose, description, declared_at) VALUES(?, ?, strftime('%s','now'))",
        (PERSONALIZATION, PERSONALIZATION_DESCRIPTION),
    )
    # popularity the app ships with its catalogue (the non-personalised fallback needs no local behaviour)
    _add_column(conn, "items", "popularity REAL")
    # how many distinct consenting users stand behind each prior (shown only from k of them on)
    _add_column(conn, "item_stats", "users INTEGER NOT NULL DEFAULT 0")
    conn.execute("DELETE FROM item_stats")  # rebuilt on open, from consenting users only
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('stats_rebuild', '1')")
    # the erasure record keeps nothing derived from the id (its key lived in this file: a guess was checkable)
    conn.execute("UPDATE audit SET subject=NULL WHERE action='erasure'")
    conn.execute("DELETE FROM meta WHERE key='audit_key'")


def _migrate_4(conn: sqlite3.Connection) -> None:
    # removed items stay (users' histories keep them; export shows them) but are never recommended again
    _add_column(conn, "items", "removed REAL")
    conn.execute("CREATE INDEX IF NOT EXISTS items_removed ON items(removed)")
    # resumable imports: file digest → rows committed
    conn.execute("CREATE TABLE IF NOT EXISTS imports (digest TEXT PRIMARY KEY, path TEXT, rows INTEGER, at REAL)")


def _migrate_5(conn: sqlite3.Connection) -> None:
    # a random token naming this store's catalogue: the vector cache beside the file must carry it, so a
    # database re-created at the same path never picks up an old cache (see vector_cache.py)
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('catalog_epoch', ?)", (secrets.token_hex(16),))


def _migrate_6(conn: sqlite3.Connection) -> None:
    # where an item came from: NULL = the app, 'remote' = a server's answer to recommend(remote=...). Only the
    # app's own catalogue text is public text the egress gate may exempt from masking; a server must not be
    # able to plant exemptions by naming an item after a person
    _add_column(conn, "items", "origin TEXT")


def _migrate_7(conn: sqlite3.Connection) -> None:
    # titles by key, so that a profile's "I loved Heat and Fargo" is matched against any catalogue with an index
    # (store/title_keys.py); and the items a profile names, resolved when it is written
    _add_column(conn, "items", "title_key TEXT")
    _add_column(conn, "items", "title_short TEXT")
    conn.create_function("odrec_title_key", 1, title_key, deterministic=True)
    conn.create_function("odrec_short_title_key", 1, short_title_key, deterministic=True)
    conn.execute("UPDATE items SET title_key=odrec_title_key(title), title_short=odrec_short_title_key(title)")
    conn.execute("CREATE INDEX IF NOT EXISTS items_title_key ON items(title_key)")
    conn.execute("CREATE INDEX IF NOT EXISTS items_title_short ON items(title_short) WHERE title_short != ''")
    _add_column(conn, "profiles", "mentions TEXT")


PERSONALIZATION = "personalization"
PERSONALIZATION_DESCRIPTION = (
    "Use my activity and profile on this device to personalise recommendations, "
    "and let it count (with at least k other people) towards what is popular here"
)

# (version, migration), applied in order to stores older than ``version``.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (1, _migrate_1),
    (2, _migrate_2),
    (3, _migrate_3),
    (4, _migrate_4),
    (5, _migrate_5),
    (6, _migrate_6),
    (7, _migrate_7),
]


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the store (0 for a new, empty file; -1 when the store has tables but
    its version record cannot be found, which only damage explains)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    try:
        return int(row[0]) if row else -1
    except (TypeError, ValueError):
        return -1


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Apply every migration newer than ``from_version`` (inside the caller's write transaction)."""
    for target, migration in MIGRATIONS:
        if target > from_version:
            migration(conn)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(target),),
            )
