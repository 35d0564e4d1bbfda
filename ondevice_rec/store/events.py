"""The per-user behaviour tables: ``events`` (interactions), ``profiles`` (natural-language profile text) and
``profile_vectors`` (its embedded clauses per vector space). Every statement about them is here."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ItemNotFoundError
from . import statements, vectors
from .rows import StoredProfile
from .statements import Increments

if TYPE_CHECKING:
    from .connection import Connection


@dataclass(frozen=True)
class EventRow:
    """One validated event, ready to store (``ctx``: its ``|``-joined context keys; ``context``: the JSON the
    app passed, kept for export)."""

    user_id: str
    item_id: str
    kind: str
    value: float | None
    at: float
    ctx: str
    context: str | None


# one stored event as the ranker reads it
EventTuple = tuple[int, str, "float | None", float, str]  # (iid, kind, value, at, ctx)


class EventsTable:
    def __init__(self, store: Connection) -> None:
        self._s = store

    def insert(
        self,
        rows: Sequence[EventRow],
        increments: Increments,
        *,
        mark: tuple[str, str, int] | None = None,
        deltas: list[tuple[int, str, float, int]] | None = None,
        skip_present: bool = False,
    ) -> int:
        """Store ``rows`` and, for users who granted personalization, add their popularity increments (and count
        each user once per item and context), all in one transaction (all-or-nothing). Events of other users
        are stored for the app's own use but feed nothing other people see. Raises
        :class:`ItemNotFoundError` for an item that is not in the catalogue. ``mark`` = (file digest, path,
        rows done) records an import's progress in the same transaction, so a resumed import neither loses
        nor repeats a row. ``deltas``, when given, receives the (iid, context key, weight, new users) increments
        written to the priors, so an in-memory copy can apply them instead of reading every prior again.
        ``skip_present``: a row whose identity — (user, item, kind, at) — the store already holds (or an earlier
        row of ``rows`` had) is not written again, so re-importing an edited or re-sorted file adds only what is
        new. Returns how many rows were written."""
        with self._s.write() as conn:
            if mark is not None:
                conn.execute(
                    "INSERT INTO imports(digest, path, rows, at) VALUES(?,?,?,?) ON CONFLICT(digest) DO UPDATE "
                    "SET rows=excluded.rows, path=excluded.path, at=excluded.at",
                    (mark[0], mark[1], mark[2], time.time()),
                )
            iid_cache: dict[str, int | None] = {}
            uids: dict[str, int] = {}
            consented: dict[int, bool] = {}
            contributed: dict[tuple[int, int], set[str]] = {}  # (uid, iid) → context keys already counted
            stats: list[tuple[int, str, float, int]] = []
            written = 0
            for r in rows:
                if r.item_id not in iid_cache:
                    iid_cache[r.item_id] = statements.iid_of(conn, r.item_id)
                iid = iid_cache[r.item_id]
                if iid is None:
                    raise ItemNotFoundError(
                        f"unknown item {r.item_id!r}: add it to the catalogue first (Recommender.add_items, or "
                        "odrec catalog import)"
                    )
                uid = uids.get(r.user_id) or uids.setdefault(r.user_id, statements.ensure_uid(conn, r.user_id))
                if (
                    skip_present
                    and conn.execute(
                        "SELECT 1 FROM events WHERE uid=? AND iid=? AND kind=? AND at=? LIMIT 1",
                        (uid, iid, r.kind, r.at),
                    ).fetchone()
                ):
                    continue
                written += 1
                if uid not in consented:
                    consented[uid] = statements.personalised(conn, uid)
                incs = list(increments(r.kind, r.value, r.ctx)) if consented[uid] else []
                if incs and (uid, iid) not in contributed:
                    contributed[(uid, iid)] = {
                        key
                        for kind, value, ctx in conn.execute(
                            "SELECT kind, value, ctx FROM events WHERE uid=? AND iid=?", (uid, iid)
                        )
                        for key, _ in increments(kind, value, ctx)
                    }
                conn.execute(
                    "INSERT INTO events(uid, iid, kind, value, at, ctx, context) VALUES(?,?,?,?,?,?,?)",
                    (uid, iid, r.kind, r.value, r.at, r.ctx, r.context),
                )
                for key, w in incs:
                    seen = contributed[(uid, iid)]
                    stats.append((iid, key, w, 0 if key in seen else 1))
                    seen.add(key)
            statements.add_stats(conn, stats)
        if deltas is not None:
            deltas.extend(stats)
        return written

    def recent(self, uid: int, limit: int) -> list[EventTuple]:
        """The user's ``limit`` most recent events, newest first."""
        return [
            (int(a), str(b), c, float(d), str(e))
            for a, b, c, d, e in self._s.query(
                "SELECT iid, kind, value, at, ctx FROM events WHERE uid=? ORDER BY at DESC, eid DESC LIMIT ?",
                (uid, limit),
            )
        ]

    def items_of(self, uid: int) -> tuple[np.ndarray, list[int], dict[int, int]]:
        """(sorted items the user interacted with — an ``impression`` alone is shown, not seen —, items they
        disliked, iid → times shown), read once per user by the in-memory histories. The seen set comes back
        as one comma-joined value, not a row per item: a 2,700-item set costs well under a millisecond."""
        joined = self._s.query(
            "SELECT group_concat(iid) FROM (SELECT DISTINCT iid FROM events WHERE uid=? AND kind != 'impression')",
            (uid,),
        )[0][0]
        seen = np.unique(np.fromiter(map(int, joined.split(",")), np.int64)) if joined else np.zeros(0, np.int64)
        return seen, self.disliked_items(uid), self.impressions(uid)

    def impressions(self, uid: int) -> dict[int, int]:
        """iid → how often it was shown to the user (``impression`` events)."""
        return {
            int(a): int(b)
            for a, b in self._s.query(
                "SELECT iid, count(*) FROM events WHERE uid=? AND kind='impression' GROUP BY iid", (uid,)
            )
        }

    def disliked_items(self, uid: int) -> list[int]:
        return [
            int(r[0]) for r in self._s.query("SELECT DISTINCT iid FROM events WHERE uid=? AND kind='dislike'", (uid,))
        ]

    def import_progress(self, digest: str) -> int:
        """Rows of the file with this digest already imported (0 for a new file)."""
        rows = self._s.query("SELECT rows FROM imports WHERE digest=?", (digest,))
        return int(rows[0][0]) if rows else 0

    def kinds_and_tags(self, uid: int) -> list[tuple[str, float | None, list[str]]]:
        """(kind, value, item tags) of every event of the user (for minimised summaries)."""
        return [
            (k, v, json.loads(t))
            for k, v, t in self._s.query(
                "SELECT e.kind, e.value, i.tags FROM events e JOIN items i ON i.iid=e.iid WHERE e.uid=?", (uid,)
            )
        ]

    def expire(self, cutoff: float, increments: Increments, details: dict[str, object], uid: int | None = None) -> int:
        """Delete events older than ``cutoff`` (epoch seconds) — of one user when ``uid`` is given — rebuild
        the priors they fed and audit it; one transaction. Returns how many were deleted."""
        where, args = ("at < ?", (cutoff,)) if uid is None else ("at < ? AND uid = ?", (cutoff, uid))
        with self._s.write() as conn:
            touched = [r[0] for r in conn.execute(f"SELECT DISTINCT iid FROM events WHERE {where}", args)]
            n = int(conn.execute(f"DELETE FROM events WHERE {where}", args).rowcount)
            if n:
                statements.recompute_stats(conn, touched, increments)
                statements.audit(conn, "retention", uid=uid, details={**details, "events_deleted": n})
        return n

    def count(self) -> int:
        return int(self._s.query("SELECT count(*) FROM events")[0][0])

    def weekly(self, uid: int) -> list[tuple[int, str, int]]:
        """(week number since the epoch, kind, events) of the user: activity per week by kind, counted in SQL
        so a long history costs one indexed scan."""
        return [
            (int(w), str(k), int(n))
            for w, k, n in self._s.query(
                "SELECT CAST(at / 604800 AS INTEGER) AS w, kind, count(*) FROM events WHERE uid=? "
                "GROUP BY w, kind ORDER BY w",
                (uid,),
            )
        ]

    def latest(self, uid: int, limit: int) -> tuple[int, list[dict[str, object]]]:
        """(all events of the user, the newest ``limit`` of them with their items' ids and titles)."""
        total = int(self._s.query("SELECT count(*) FROM events WHERE uid=?", (uid,))[0][0])
        rows = self._s.query(
            "SELECT e.at, e.kind, e.value, i.item_id, i.title, e.context FROM events e JOIN items i ON i.iid=e.iid "
            "WHERE e.uid=? ORDER BY e.at DESC, e.eid DESC LIMIT ?",
            (uid, limit),
        )
        return total, [
            {"at": float(a), "kind": str(k), "value": v, "item_id": str(i), "title": str(t), "context": c}
            for a, k, v, i, t, c in rows
        ]


class ProfilesTable:
    def __init__(self, store: Connection) -> None:
        self._s = store

    def set(
        self,
        user_id: str,
        text: str,
        space_id: str,
        positive: Sequence[str],
        negative: Sequence[str],
        pos: np.ndarray | None,
        neg: np.ndarray | None,
        mentions: Sequence[Sequence[object]] = (),
    ) -> None:
        """Store the profile text, its clause vectors (in ``space_id``; vectors of other spaces are dropped) and
        the catalogue items it names (rows of plain values, stored as JSON)."""
        with self._s.write() as conn:
            uid = statements.ensure_uid(conn, user_id)
            conn.execute(
                "INSERT INTO profiles(uid, text, updated_at, mentions) VALUES(?,?,?,?) ON CONFLICT(uid) DO UPDATE "
                "SET text=excluded.text, updated_at=excluded.updated_at, mentions=excluded.mentions",
                (uid, text, time.time(), json.dumps([list(m) for m in mentions])),
            )
            conn.execute("DELETE FROM profile_vectors WHERE uid=?", (uid,))
            conn.execute(
                "INSERT INTO profile_vectors(uid, model_id, clauses, pos, neg) VALUES(?,?,?,?,?)",
                (
                    uid,
                    space_id,
                    json.dumps({"positive": list(positive), "negative": list(negative)}),
                    vectors.encode(pos),
                    vectors.encode(neg),
                ),
            )

    def delete(self, user_id: str) -> None:
        with self._s.write() as conn:
            uid = statements.ensure_uid(conn, user_id)
            conn.execute("DELETE FROM profiles WHERE uid=?", (uid,))
            conn.execute("DELETE FROM profile_vectors WHERE uid=?", (uid,))

    def text(self, uid: int) -> str | None:
        rows = self._s.query("SELECT text FROM profiles WHERE uid=?", (uid,))
        return str(rows[0][0]) if rows else None

    def mentions(self, uid: int) -> list[list[object]]:
        """The catalogue items the profile names, as :meth:`set` stored them (none for a profile written
        before titles were resolved)."""
        rows = self._s.query("SELECT mentions FROM profiles WHERE uid=?", (uid,))
        return list(json.loads(rows[0][0])) if rows and rows[0][0] else []

    def vectors(self, uid: int, space_id: str, dim: int) -> StoredProfile | None:
        rows = self._s.query(
            "SELECT clauses, pos, neg FROM profile_vectors WHERE uid=? AND model_id=?", (uid, space_id)
        )
        if not rows:
            return None
        clauses = json.loads(rows[0][0])
        return StoredProfile(
            clauses["positive"], clauses["negative"], vectors.decode(rows[0][1], dim), vectors.decode(rows[0][2], dim)
        )

    def derived(self, uid: int, dims: dict[str, int]) -> list[dict[str, object]]:
        """What was derived from the profile text, per vector space: clauses, vectors and how many numbers
        (``dims``: the vector length of spaces we know; one vector per clause otherwise)."""
        out: list[dict[str, object]] = []
        for model_id, clauses, pos, neg in self._s.query(
            "SELECT model_id, clauses, pos, neg FROM profile_vectors WHERE uid=?", (uid,)
        ):
            c = json.loads(clauses)
            n_clauses = len(c.get("positive", [])) + len(c.get("negative", []))
            numbers = sum(a.size for a in (vectors.decode(pos), vectors.decode(neg)) if a is not None)
            dim = dims.get(str(model_id))
            out.append(
                {
                    "space": str(model_id),
                    "clauses": n_clauses,
                    "vectors": numbers // dim if dim else n_clauses,
                    "numbers": int(numbers),
                }
            )
        return out

    def without_vectors(self, space_id: str) -> list[tuple[str, str]]:
        """(user id, profile text) of profiles with no vectors in ``space_id`` (written under another bundle) or
        whose titles were never resolved (written before the store could)."""
        return [
            (str(u), str(t))
            for u, t in self._s.query(
                "SELECT u.user_id, p.text FROM profiles p JOIN users u ON u.uid=p.uid WHERE p.mentions IS NULL OR "
                "NOT EXISTS (SELECT 1 FROM profile_vectors v WHERE v.uid=p.uid AND v.model_id=?)",
                (space_id,),
            )
        ]
