"""The catalogue tables: ``items``, ``item_vectors`` (one vector per item and vector space) and
``item_stats`` (popularity priors per context). Every statement about them is here."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..catalog import Item
from . import vectors

if TYPE_CHECKING:
    from .db import Store

# (kind, value, ctx) of one event → (context key, weight) increments of the popularity priors
Increments = Callable[[str, "float | None", str], Iterable[tuple[str, float]]]

# users whose latest personalization decision is a grant: only their events feed the priors everyone sees
CONSENTED_UIDS = (
    "SELECT c.uid FROM consents c WHERE c.purpose='personalization' AND c.granted=1 AND c.cid="
    "(SELECT max(c2.cid) FROM consents c2 WHERE c2.uid=c.uid AND c2.purpose='personalization')"
)


@dataclass
class CatalogRows:
    """Every item that has a vector in one space, in ``iid`` order, as arrays (what a snapshot is built from)."""

    iids: np.ndarray
    item_ids: list[str]
    titles: list[str]
    tags: list[list[str]]
    matrix: np.ndarray
    popularity: np.ndarray  # the catalogue's own popularity (NaN where the app gave none)


class CatalogTable:
    def __init__(self, store: Store) -> None:
        self._s = store

    # --- items ------------------------------------------------------------------------------------
    def text_shas(self, space_id: str, item_ids: Sequence[str]) -> dict[str, str]:
        """item id → sha of the text its stored vector (in ``space_id``) was computed from."""
        out: dict[str, str] = {}
        for i in range(0, len(item_ids), 500):
            chunk = list(item_ids[i : i + 500])
            q = ",".join("?" * len(chunk))
            out.update(
                {
                    r[0]: r[1]
                    for r in self._s.query(
                        "SELECT i.item_id, v.text_sha FROM items i JOIN item_vectors v "
                        f"ON v.iid=i.iid AND v.model_id=? WHERE i.item_id IN ({q})",
                        (space_id, *chunk),
                    )
                }
            )
        return out

    def upsert(self, items: Sequence[Item], shas: Sequence[str], vecs: dict[int, np.ndarray], space_id: str) -> None:
        """Insert or update ``items`` and, for the indices in ``vecs``, their vectors; one transaction that also
        bumps ``catalog_version`` (so every open snapshot reloads)."""
        now = time.time()
        with self._s.write() as conn:
            for i, it in enumerate(items):
                conn.execute(
                    "INSERT INTO items(item_id, title, text, tags, meta, popularity, added_at, updated_at) "
                    "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(item_id) DO UPDATE SET title=excluded.title, "
                    "text=excluded.text, tags=excluded.tags, meta=excluded.meta, popularity=excluded.popularity, "
                    "updated_at=excluded.updated_at",
                    (it.id, it.title, it.text, json.dumps(list(it.tags)), json.dumps(it.meta), it.popularity, now, now),
                )
                if i in vecs:
                    iid = conn.execute("SELECT iid FROM items WHERE item_id=?", (it.id,)).fetchone()[0]
                    conn.execute(
                        "INSERT INTO item_vectors(iid, model_id, text_sha, vector) VALUES(?,?,?,?) "
                        "ON CONFLICT(iid, model_id) DO UPDATE SET text_sha=excluded.text_sha, vector=excluded.vector",
                        (iid, space_id, shas[i], vectors.encode(vecs[i])),
                    )
            self._s.bump(conn, "catalog_version")

    def without_vectors(self, space_id: str) -> list[Item]:
        """Items that have no vector in ``space_id`` (the store was filled under another bundle)."""
        rows = self._s.query(
            "SELECT i.item_id, i.title, i.text, i.tags, i.meta, i.popularity FROM items i LEFT JOIN item_vectors v "
            "ON v.iid=i.iid AND v.model_id=? WHERE v.iid IS NULL",
            (space_id,),
        )
        return [_item(r) for r in rows]

    def get(self, item_id: str) -> Item | None:
        rows = self._s.query(
            "SELECT item_id, title, text, tags, meta, popularity FROM items WHERE item_id=?", (item_id,)
        )
        return _item(rows[0]) if rows else None

    def count(self) -> int:
        return int(self._s.query("SELECT count(*) FROM items")[0][0])

    def titles(self) -> list[str]:
        return [r[0] for r in self._s.query("SELECT title FROM items WHERE title != ''")]

    def public_text(self) -> Iterator[tuple[str, str, list[str]]]:
        """(title, text, tags) of every item: the catalogue's public content, streamed."""
        with self._s.read() as conn:
            for title, text, tags in conn.execute("SELECT title, text, tags FROM items"):
                yield title, text, json.loads(tags)

    def version(self) -> str | None:
        """Changes whenever an item or vector is written (by any connection)."""
        return self._s.meta("catalog_version", "0")

    # --- vectors ----------------------------------------------------------------------------------
    def load(self, space_id: str, dim: int) -> CatalogRows:
        """Every item with a vector in ``space_id``, streamed into preallocated arrays (no second copy)."""
        item_ids: list[str] = []
        titles: list[str] = []
        tags: list[list[str]] = []
        with self._s.read() as conn:
            n = conn.execute("SELECT count(*) FROM item_vectors WHERE model_id=?", (space_id,)).fetchone()[0]
            iids = np.empty(n, dtype=np.int64)
            matrix = np.empty((n, dim), dtype=np.float32)
            popularity = np.full(n, np.nan, dtype=np.float64)
            i = 0
            for iid, item_id, title, tag_json, pop, blob in conn.execute(
                "SELECT i.iid, i.item_id, i.title, i.tags, i.popularity, v.vector FROM items i JOIN item_vectors v "
                "ON v.iid=i.iid AND v.model_id=? ORDER BY i.iid",
                (space_id,),
            ):
                iids[i] = iid
                matrix[i] = vectors.decode(blob)
                if pop is not None:
                    popularity[i] = pop
                item_ids.append(item_id)
                titles.append(title)
                tags.append(json.loads(tag_json))
                i += 1
        return CatalogRows(iids[:i], item_ids, titles, tags, matrix[:i], popularity[:i])

    # --- popularity priors ------------------------------------------------------------------------
    def stats(self) -> list[tuple[int, str, float, int]]:
        """(iid, context key, accumulated weight, distinct consenting users) of every prior."""
        return [
            (int(a), str(b), float(c), int(d))
            for a, b, c, d in self._s.query("SELECT iid, ctx, weight, users FROM item_stats")
        ]

    @staticmethod
    def add_stats(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, float, int]]) -> None:
        """Add (iid, context key, weight, new distinct users) increments inside the caller's transaction."""
        conn.executemany(
            "INSERT INTO item_stats(iid, ctx, weight, users) VALUES(?,?,?,?) ON CONFLICT(iid, ctx) "
            "DO UPDATE SET weight = weight + excluded.weight, users = users + excluded.users",
            list(rows),
        )

    @staticmethod
    def recompute_stats(conn: sqlite3.Connection, iids: Iterable[int], increments: Increments) -> None:
        """Rebuild the priors of ``iids`` from the events of consenting users that remain (derived data of
        erased or expired events, or of a withdrawn consent, must go too), inside the caller's transaction."""
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

    def rebuild_stats_if_flagged(self, increments: Increments) -> bool:
        """After a migration that cleared the priors: rebuild them all (one transaction)."""
        if self._s.meta("stats_rebuild") != "1":
            return False
        with self._s.write() as conn:
            iids = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events")]
            self.recompute_stats(conn, iids, increments)
            conn.execute("DELETE FROM meta WHERE key='stats_rebuild'")
            self._s.bump(conn, "stats_version")
        return True

    @staticmethod
    def item_id_of(conn: sqlite3.Connection, iid: int) -> str | None:
        r = conn.execute("SELECT item_id FROM items WHERE iid=?", (iid,)).fetchone()
        return r[0] if r else None

    @staticmethod
    def iid_of(conn: sqlite3.Connection, item_id: str) -> int | None:
        r = conn.execute("SELECT iid FROM items WHERE item_id=?", (item_id,)).fetchone()
        return int(r[0]) if r else None


def _item(r: tuple[Any, ...]) -> Item:
    return Item(r[0], r[1], r[2], tuple(json.loads(r[3])), json.loads(r[4]), None if r[5] is None else float(r[5]))
