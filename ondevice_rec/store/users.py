"""The people tables: ``users`` (the only place a user id is stored), ``consents`` (an append-only ledger)
and ``audit`` (what happened to whose data, never raw payloads). Export and erasure of one user's rows walk
:data:`~ondevice_rec.store.schema.USER_TABLES`. Every statement about these tables is here."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import statements
from .schema import PERSONALIZATION, USER_TABLES
from .statements import Increments

if TYPE_CHECKING:
    from .connection import Connection


class UsersTable:
    def __init__(self, store: Connection) -> None:
        self._s = store

    def uid(self, user_id: str) -> int | None:
        rows = self._s.query("SELECT uid FROM users WHERE user_id=?", (user_id,))
        return int(rows[0][0]) if rows else None

    def count(self) -> int:
        return int(self._s.query("SELECT count(*) FROM users")[0][0])

    def page(self, offset: int, limit: int) -> list[tuple[str, int, float | None]]:
        """(user id, events, latest event time) of users in creation order."""
        return [
            (str(u), int(n), None if at is None else float(at))
            for u, n, at in self._s.query(
                "SELECT u.user_id, count(e.eid), max(e.at) FROM users u LEFT JOIN events e ON e.uid=u.uid "
                "GROUP BY u.uid ORDER BY u.uid LIMIT ? OFFSET ?",
                (limit, offset),
            )
        ]

    def rows(
        self, user_id: str, convert: Callable[[str, dict[str, Any], sqlite3.Connection], dict[str, Any]]
    ) -> tuple[float, dict[str, list[dict[str, Any]]]] | None:
        """(created_at, table → rows) of everything held about ``user_id``, with ``convert`` applied to each
        row; the export itself is audited in the same transaction (a read-only store cannot record it: the
        caller says so). None for an unknown user."""
        with self._s.read() if self._s.readonly else self._s.write() as conn:
            row = conn.execute("SELECT uid, created_at FROM users WHERE user_id=?", (user_id,)).fetchone()
            if row is None:
                return None
            uid = int(row[0])
            if not self._s.readonly:
                statements.audit(conn, "export", uid=uid, details={"tables": list(USER_TABLES)})
            out: dict[str, list[dict[str, Any]]] = {}
            for table in USER_TABLES:
                cur = conn.execute(f"SELECT * FROM {table} WHERE uid=?", (uid,))
                cols = [d[0] for d in cur.description]
                out[table] = [convert(table, dict(zip(cols, r)), conn) for r in cur.fetchall()]
            return float(row[1]), out

    def erase(self, user_id: str, increments: Increments) -> dict[str, int]:
        """Delete every row about ``user_id`` and the priors its events fed; leave one audit entry that an
        erasure happened (time and row counts, nothing derived from the id). One transaction; returns rows
        deleted per table ({} for an unknown user)."""
        counts: dict[str, int] = {}
        with self._s.write() as conn:
            row = conn.execute("SELECT uid FROM users WHERE user_id=?", (user_id,)).fetchone()
            if row is None:
                return counts
            uid = int(row[0])
            touched = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events WHERE uid=?", (uid,))]
            for table in USER_TABLES:
                counts[table] = int(conn.execute(f"DELETE FROM {table} WHERE uid=?", (uid,)).rowcount)
            conn.execute("DELETE FROM users WHERE uid=?", (uid,))
            statements.recompute_stats(conn, touched, increments)
            statements.audit(conn, "erasure", details={"rows_deleted": counts})
        return counts


class ConsentsTable:
    def __init__(self, store: Connection) -> None:
        self._s = store

    def add(self, user_id: str, purpose: str, granted: bool, source: str, increments: Increments) -> None:
        """Append one decision to the ledger, and audit it, in one transaction. A personalization decision
        also adds (or withdraws) the user's events to (from) the popularity priors, in the same transaction."""
        with self._s.write() as conn:
            uid = statements.ensure_uid(conn, user_id)
            before = statements.personalised(conn, uid)
            conn.execute(
                "INSERT INTO consents(uid, purpose, granted, at, source) VALUES(?,?,?,?,?)",
                (uid, purpose, int(granted), time.time(), source),
            )
            if purpose == PERSONALIZATION and before != granted and granted:
                statements.add_user_stats(conn, uid, increments)
            elif purpose == PERSONALIZATION and before != granted:  # withdrawn: rebuilt without them
                touched = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events WHERE uid=?", (uid,))]
                statements.recompute_stats(conn, touched, increments)
            statements.audit(
                conn,
                "consent.grant" if granted else "consent.revoke",
                uid=uid,
                purpose=purpose,
                details={"source": source},
            )

    def status(self, uid: int) -> dict[str, bool]:
        """The latest decision per purpose."""
        rows = self._s.query(
            "SELECT purpose, granted FROM consents WHERE cid IN (SELECT max(cid) FROM consents WHERE uid=? "
            "GROUP BY purpose)",
            (uid,),
        )
        return {str(p): bool(g) for p, g in rows}

    def history(self, uid: int) -> list[dict[str, Any]]:
        rows = self._s.query("SELECT purpose, granted, at, source FROM consents WHERE uid=? ORDER BY cid", (uid,))
        return [{"purpose": p, "granted": bool(g), "at": a, "source": s} for p, g, a, s in rows]


class AuditTable:
    def __init__(self, store: Connection) -> None:
        self._s = store

    def log(self, user_id: str, action: str, *, purpose: str | None, details: dict[str, Any]) -> None:
        """One audit entry about ``user_id`` in its own transaction (the egress gate's record)."""
        with self._s.write() as conn:
            uid = statements.ensure_uid(conn, user_id)
            statements.audit(conn, action, uid=uid, purpose=purpose, details=details)

    def entries(self, uid: int, limit: int) -> list[dict[str, Any]]:
        """The user's newest ``limit`` audit entries (egress sends and refusals, exports), newest first."""
        return [
            {"at": float(a), "action": str(act), "purpose": p, "details": json.loads(d or "{}")}
            for a, act, p, d in self._s.query(
                "SELECT at, action, purpose, details FROM audit WHERE uid=? ORDER BY aid DESC LIMIT ?", (uid, limit)
            )
        ]

    def actions(self) -> list[str]:
        return [str(r[0]) for r in self._s.query("SELECT action FROM audit ORDER BY aid")]


class PurposesTable:
    """Purposes the app declared: consent can be given only for one of them."""

    def __init__(self, store: Connection) -> None:
        self._s = store

    def declare(self, purpose: str, description: str) -> None:
        with self._s.write() as conn:
            conn.execute(
                "INSERT INTO purposes(purpose, description, declared_at) VALUES(?,?,?) ON CONFLICT(purpose) "
                "DO UPDATE SET description=excluded.description",
                (purpose, description, time.time()),
            )

    def all(self) -> dict[str, str]:
        return {str(p): str(d) for p, d in self._s.query("SELECT purpose, description FROM purposes ORDER BY purpose")}
