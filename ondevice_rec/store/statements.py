"""Statements one table runs inside another's transaction (a user created by the first event, an audit entry
of an erasure, popularity priors rebuilt after a consent change): functions of an open ``sqlite3``
connection, so that the tables depend on this module and not on each other."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

# (kind, value, ctx) of one event → (context key, weight) increments of the popularity priors
Increments = Callable[[str, "float | None", str], Iterable[tuple[str, float]]]

# users whose latest personalization decision is a grant: only their events feed the priors everyone sees
CONSENTED_UIDS = (
    "SELECT c.uid FROM consents c WHERE c.purpose='personalization' AND c.granted=1 AND c.cid="
    "(SELECT max(c2.cid) FROM consents c2 WHERE c2.uid=c.uid AND c2.purpose='personalization')"
)


def ensure_uid(conn: sqlite3.Connection, user_id: str) -> int:
    """The user's row id, creating the user when new."""
    row = conn.execute("SELECT uid FROM users WHERE user_id=?", (user_id,)).fetchone()
    if row:
        return int(row[0])
    cur = conn.execute("INSERT INTO users(user_id, created_at) VALUES(?, ?)", (user_id, time.time()))
    return int(cur.lastrowid or 0)


def personalised(conn: sqlite3.Connection, uid: int) -> bool:
    """Has the user's latest personalization decision granted it?"""
    return conn.execute(f"SELECT 1 FROM ({CONSENTED_UIDS}) WHERE uid=?", (uid,)).fetchone() is not None


def iid_of(conn: sqlite3.Connection, item_id: str) -> int | None:
    r = conn.execute("SELECT iid FROM items WHERE item_id=?", (item_id,)).fetchone()
    return int(r[0]) if r else None


def item_id_of(conn: sqlite3.Connection, iid: int) -> str | None:
    r = conn.execute("SELECT item_id FROM items WHERE iid=?", (iid,)).fetchone()
    return r[0] if r else None


def add_stats(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, float, int]]) -> None:
    """Add (iid, context key, weight, new distinct users) increments to the popularity priors."""
    conn.executemany(
        "INSERT INTO item_stats(iid, ctx, weight, users) VALUES(?,?,?,?) ON CONFLICT(iid, ctx) "
        "DO UPDATE SET weight = weight + excluded.weight, users = users + excluded.users",
        list(rows),
    )


def add_user_stats(conn: sqlite3.Connection, uid: int, increments: Increments) -> None:
    """A user who just granted personalization joins the priors: their events' increments are added, and they
    count once per item and context they touched (what :func:`recompute_stats` would give, without reading
    every other user's events of those items)."""
    acc: dict[tuple[int, str], float] = {}
    for iid, kind, value, ctx in conn.execute("SELECT iid, kind, value, ctx FROM events WHERE uid=?", (uid,)):
        for key, w in increments(kind, value, ctx):
            acc[(iid, key)] = acc.get((iid, key), 0.0) + w
    add_stats(conn, [(iid, key, w, 1) for (iid, key), w in acc.items()])


def recompute_stats(conn: sqlite3.Connection, iids: Iterable[int], increments: Increments) -> None:
    """Rebuild the priors of ``iids`` from the events of consenting users that remain (derived data of
    erased or expired events, or of a withdrawn consent, must go too)."""
    for iid in iids:
        conn.execute("DELETE FROM item_stats WHERE iid=?", (iid,))
        acc: dict[str, float] = {}
        users: dict[str, set[int]] = {}
        for uid, kind, value, ctx in conn.execute(
            f"SELECT uid, kind, value, ctx FROM events WHERE iid=? AND uid IN ({CONSENTED_UIDS})", (iid,)
        ):
            for key, w in increments(kind, value, ctx):
                acc[key] = acc.get(key, 0.0) + w
                users.setdefault(key, set()).add(uid)
        conn.executemany(
            "INSERT INTO item_stats(iid, ctx, weight, users) VALUES(?,?,?,?)",
            [(iid, c, w, len(users[c])) for c, w in acc.items()],
        )


def audit(
    conn: sqlite3.Connection,
    action: str,
    *,
    uid: int | None = None,
    subject: str | None = None,
    purpose: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry."""
    conn.execute(
        "INSERT INTO audit(at, uid, subject, action, purpose, details) VALUES(?,?,?,?,?,?)",
        (time.time(), uid, subject, action, purpose, json.dumps(details or {}, sort_keys=True)),
    )
