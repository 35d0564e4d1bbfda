"""The catalogue tables: ``items``, ``item_vectors`` (one vector per item and vector space) and
``item_stats`` (popularity priors per context). Every statement about them is here."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ItemNotFoundError, StoreError
from . import statements, vector_cache, vectors
from .rows import CatalogRows, Item, QuantizedRows, intern_tags, spare_rows
from .statements import Increments
from .title_keys import short_title_key, title_key

if TYPE_CHECKING:
    from .connection import Connection


MODALITY_SPACE = "modality:"  # item_vectors.model_id of an app-supplied modality (``modality:image``)


class CatalogTable:
    def __init__(self, store: Connection) -> None:
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

    def upsert(
        self,
        items: Sequence[Item],
        shas: Sequence[str],
        vecs: dict[int, np.ndarray],
        space_id: str,
        *,
        remote: bool = False,
    ) -> tuple[list[int], str | None, str | None]:
        """Insert or update ``items`` (a removed item that comes back is restored) and, for the indices in
        ``vecs``, their vectors; one transaction that also bumps ``catalog_version``. ``remote``: the items came
        from a server (their text is never public text, see :meth:`public_text`); an item the app writes again
        is the app's. Returns (iid of each item, the version before, the version after), so a snapshot that was
        current can apply the change in place."""
        iids: list[int] = []
        with self._s.write() as conn:
            now = time.time()  # once the write lock is held: readers that sync by time miss nothing
            before = self._s.meta_in(conn, "catalog_version", "0")
            for i, it in enumerate(items):
                iid = conn.execute(
                    "INSERT INTO items(item_id, title, text, tags, meta, popularity, added_at, updated_at, origin, "
                    "title_key, title_short) VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(item_id) DO UPDATE SET "
                    "title=excluded.title, text=excluded.text, tags=excluded.tags, meta=excluded.meta, "
                    "popularity=excluded.popularity, updated_at=excluded.updated_at, removed=NULL, "
                    "origin=excluded.origin, title_key=excluded.title_key, title_short=excluded.title_short "
                    "RETURNING iid",
                    (
                        it.id,
                        it.title,
                        it.text,
                        json.dumps(list(it.tags)),
                        json.dumps(it.meta),
                        it.popularity,
                        now,
                        now,
                        "remote" if remote else None,
                        title_key(it.title),
                        short_title_key(it.title),
                    ),
                ).fetchone()[0]
                iids.append(int(iid))
                if i in vecs:
                    conn.execute(
                        "INSERT INTO item_vectors(iid, model_id, text_sha, vector) VALUES(?,?,?,?) "
                        "ON CONFLICT(iid, model_id) DO UPDATE SET text_sha=excluded.text_sha, vector=excluded.vector",
                        (iid, space_id, shas[i], vectors.encode(vecs[i])),
                    )
                for name, v in it.vectors.items():  # the app's own vectors: kept until it sends new ones
                    conn.execute(
                        "INSERT INTO item_vectors(iid, model_id, text_sha, vector) VALUES(?,?,'',?) "
                        "ON CONFLICT(iid, model_id) DO UPDATE SET vector=excluded.vector",
                        (iid, MODALITY_SPACE + name, vectors.encode(v)),
                    )
            self._s.bump(conn, "catalog_version")
            after = self._s.meta_in(conn, "catalog_version", "0")
        return iids, before, after

    def modalities(self) -> dict[str, int]:
        """The modalities declared for this store's items: name → dimension."""
        got = self._s.meta("modalities")
        return {str(k): int(v) for k, v in json.loads(got).items()} if got else {}

    def declare_modalities(self, dims: dict[str, int]) -> dict[str, int]:
        """Record ``dims`` (name → dimension) beside those declared before; a modality declared again with
        another dimension is refused (its stored vectors would not fit). Returns every declared modality."""
        with self._s.write() as conn:
            got = self._s.meta_in(conn, "modalities")
            known = {str(k): int(v) for k, v in json.loads(got).items()} if got else {}
            for name, dim in dims.items():
                if known.get(name, dim) != dim:
                    raise StoreError(
                        f"store {self._s.path}: modality {name!r} was declared with {known[name]} dimensions, "
                        f"not {dim}; its stored vectors keep their size (use a new modality name)"
                    )
            merged = {**known, **dims}
            if merged != known:
                self._s.set_meta(conn, "modalities", json.dumps(merged, sort_keys=True))
        return merged

    def stored_modality_vectors(
        self, item_ids: Sequence[str], dims: Mapping[str, int]
    ) -> dict[str, dict[str, np.ndarray]]:
        """The stored vectors of ``dims``' modalities of these items: item id → modality → vector."""
        out: dict[str, dict[str, np.ndarray]] = {}
        spaces = {MODALITY_SPACE + name: name for name in dims}
        for s in range(0, len(item_ids), 400):
            part = list(item_ids[s : s + 400])
            rows = self._s.query(
                f"SELECT i.item_id, v.model_id, v.vector FROM items i JOIN item_vectors v ON v.iid=i.iid "
                f"WHERE i.item_id IN ({','.join('?' * len(part))}) AND v.model_id IN ({','.join('?' * len(spaces))})",
                (*part, *spaces),
            )
            for item_id, model_id, blob in rows:
                name = spaces[model_id]
                vec = np.frombuffer(blob, dtype=vectors.DTYPE).astype(np.float32)
                if vec.size == dims[name]:
                    out.setdefault(item_id, {})[name] = vec
        return out

    def modality_vectors(self, name: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(iids, float32 matrix) of every item with a vector of modality ``name``."""
        rows = self._s.query("SELECT iid, vector FROM item_vectors WHERE model_id=?", (MODALITY_SPACE + name,))
        iids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        return iids, np.frombuffer(blob, dtype=vectors.DTYPE).reshape(len(rows), dim).astype(np.float32)

    def set_popularity(self, values: Sequence[tuple[str, float]]) -> tuple[list[int], str | None, str | None]:
        """Set the popularity the app ships for these items (one transaction; an unknown id writes nothing and
        raises :class:`ItemNotFoundError`). Returns (iid of each, version before, version after)."""
        now = time.time()
        with self._s.write() as conn:
            before = self._s.meta_in(conn, "catalog_version", "0")
            iids: list[int] = []
            for item_id, value in values:
                got = conn.execute(
                    "UPDATE items SET popularity=?, updated_at=? WHERE item_id=? RETURNING iid", (value, now, item_id)
                ).fetchone()
                if got is None:
                    raise ItemNotFoundError(
                        f"unknown item {item_id!r}: priors are set for catalogue items only; nothing was changed"
                    )
                iids.append(int(got[0]))
            self._s.bump(conn, "catalog_version")
            after = self._s.meta_in(conn, "catalog_version", "0")
        return iids, before, after

    def remove(self, item_ids: Sequence[str]) -> tuple[list[int], str | None, str | None]:
        """Mark items removed: never recommended again, kept for the histories and exports that name them
        (adding an item with the same id restores it). Returns (iids removed now, version before, after)."""
        now = time.time()
        out: list[int] = []
        with self._s.write() as conn:
            before = self._s.meta_in(conn, "catalog_version", "0")
            for item_id in item_ids:
                r = conn.execute(
                    "UPDATE items SET removed=?, updated_at=? WHERE item_id=? AND removed IS NULL RETURNING iid",
                    (now, now, item_id),
                ).fetchone()
                if r is not None:
                    out.append(int(r[0]))
            if out:
                self._s.bump(conn, "catalog_version")
            after = self._s.meta_in(conn, "catalog_version", "0")
        return out, before, after

    def app_items(self, item_ids: Sequence[str]) -> set[str]:
        """Those of ``item_ids`` the app itself wrote (not a server's answer to ``recommend(remote=...)``)."""
        out: set[str] = set()
        for i in range(0, len(item_ids), 500):
            chunk = list(item_ids[i : i + 500])
            q = ",".join("?" * len(chunk))
            out.update(
                r[0]
                for r in self._s.query(f"SELECT item_id FROM items WHERE origin IS NULL AND item_id IN ({q})", chunk)
            )
        return out

    def ids_not_in(self, keep: set[str]) -> list[str]:
        """Ids of live items that are not in ``keep`` (what a catalogue sync removes)."""
        return [r[0] for r in self._s.query("SELECT item_id FROM items WHERE removed IS NULL") if r[0] not in keep]

    def iids(self, item_ids: Sequence[str]) -> dict[str, int]:
        """item id → iid for the ids that exist (removed ones included)."""
        out: dict[str, int] = {}
        for i in range(0, len(item_ids), 500):
            chunk = list(item_ids[i : i + 500])
            q = ",".join("?" * len(chunk))
            out.update(
                {
                    str(a): int(b)
                    for a, b in self._s.query(f"SELECT item_id, iid FROM items WHERE item_id IN ({q})", chunk)
                }
            )
        return out

    def names(self, iids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """iid → (item id, title): what results and reasons show, fetched for the few rows they name."""
        out: dict[int, tuple[str, str]] = {}
        uniq = list(dict.fromkeys(int(i) for i in iids))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i : i + 500]
            q = ",".join("?" * len(chunk))
            out.update(
                {
                    int(a): (str(b), str(c))
                    for a, b, c in self._s.query(f"SELECT iid, item_id, title FROM items WHERE iid IN ({q})", chunk)
                }
            )
        return out

    def metas(self, iids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """iid → the item's metadata, for a predicate filter over candidates."""
        out: dict[int, dict[str, Any]] = {}
        uniq = list(dict.fromkeys(int(i) for i in iids))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i : i + 500]
            q = ",".join("?" * len(chunk))
            out.update(
                {
                    int(a): json.loads(b)
                    for a, b in self._s.query(f"SELECT iid, meta FROM items WHERE iid IN ({q})", chunk)
                }
            )
        return out

    def page(self, offset: int, limit: int, *, removed: bool = False) -> list[tuple[Item, float | None]]:
        """(item, removed-at) in insertion order: live items, or with ``removed`` the removed ones too."""
        where = "" if removed else "WHERE removed IS NULL"
        rows = self._s.query(
            "SELECT item_id, title, text, tags, meta, popularity, removed FROM items "
            f"{where} ORDER BY iid LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [(_item(r), None if r[6] is None else float(r[6])) for r in rows]

    def without_vectors(self, space_id: str, modalities: Mapping[str, int] | None = None) -> list[Item]:
        """Items that have no vector in ``space_id`` (the store was filled under another bundle), with their
        stored vectors of ``modalities`` (an item tower that reads them embeds from them too)."""
        rows = self._s.query(
            "SELECT i.item_id, i.title, i.text, i.tags, i.meta, i.popularity FROM items i LEFT JOIN item_vectors v "
            "ON v.iid=i.iid AND v.model_id=? WHERE v.iid IS NULL AND i.removed IS NULL",
            (space_id,),
        )
        items = [_item(r) for r in rows]
        if modalities:
            stored = self.stored_modality_vectors([it.id for it in items], modalities)
            for it in items:
                it.vectors.update(stored.get(it.id, {}))
        return items

    def get(self, item_id: str) -> tuple[Item, float | None] | None:
        """(item, removed-at or None) for ``item_id``, or None when there is no such item."""
        rows = self._s.query(
            "SELECT item_id, title, text, tags, meta, popularity, removed FROM items WHERE item_id=?", (item_id,)
        )
        if not rows:
            return None
        return _item(rows[0]), None if rows[0][6] is None else float(rows[0][6])

    def count(self, *, removed: bool = False) -> int:
        """Live items (or, with ``removed``, every item ever added and not purged)."""
        where = "" if removed else " WHERE removed IS NULL"
        return int(self._s.query("SELECT count(*) FROM items" + where)[0][0])

    def titles(self) -> list[str]:
        """Titles of the app's own items (not those a server sent: see :meth:`public_text`)."""
        return [r[0] for r in self._s.query("SELECT title FROM items WHERE title != '' AND origin IS NULL")]

    def by_title_key(self, keys: Sequence[str], *, short: bool = False) -> dict[str, list[tuple[int, str, float]]]:
        """key → (iid, title, popularity) of the live items of the app's catalogue whose title key (``short``: the
        key of the title before its subtitle) is one of ``keys`` (store/title_keys.py)."""
        column = "title_short" if short else "title_key"
        out: dict[str, list[tuple[int, str, float]]] = {}
        for s in range(0, len(keys), 500):
            chunk = list(keys[s : s + 500])
            q = ",".join("?" * len(chunk))
            for key, iid, title, pop in self._s.query(
                f"SELECT {column}, iid, title, coalesce(popularity, 0) FROM items WHERE {column} IN ({q}) "
                f"AND {column} != '' AND removed IS NULL AND origin IS NULL",  # != '': the partial index's term
                chunk,
            ):
                out.setdefault(key, []).append((int(iid), title, float(pop)))
        return out

    def titles_from(self, prefix: str, limit: int) -> list[tuple[str, tuple[int, str, float]]]:
        """Up to ``limit`` (title key, (iid, title, popularity)) of live app items whose key starts with
        ``prefix``, in key order."""
        return [
            (key, (int(iid), title, float(pop)))
            for key, iid, title, pop in self._s.query(
                "SELECT title_key, iid, title, coalesce(popularity, 0) FROM items WHERE title_key >= ? AND "
                "title_key < ? AND removed IS NULL AND origin IS NULL ORDER BY title_key LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit),
            )
        ]

    def public_text(self) -> Iterator[tuple[str, str, list[str]]]:
        """(title, text, tags) of every item the app itself added: the catalogue's public content, streamed.
        Items a server returned to ``recommend(remote=...)`` are left out: text a server chose must never
        exempt anything from masking."""
        with self._s.read() as conn:
            for title, text, tags in conn.execute("SELECT title, text, tags FROM items WHERE origin IS NULL"):
                yield title, text, json.loads(tags)

    def version(self) -> str | None:
        """Changes whenever an item or vector is written (by any connection)."""
        return self._s.meta("catalog_version", "0")

    def epoch(self) -> str:
        """A random token of this store's catalogue, made when the store was created (files derived from the
        catalogue carry it, so a re-created store at the same path never matches them)."""
        return self._s.meta("catalog_epoch", "") or ""

    def updated_since(self, space_id: str, t: float) -> list[int]:
        """Store ids of the items with a vector in ``space_id`` written at or after time ``t``."""
        with self._s.read() as conn:
            return [
                int(r[0])
                for r in conn.execute(
                    "SELECT i.iid FROM items i JOIN item_vectors v ON v.iid = i.iid AND v.model_id = ? "
                    "WHERE i.updated_at >= ?",
                    (space_id, t),
                )
            ]

    # --- vectors ----------------------------------------------------------------------------------
    def load(
        self,
        space_id: str,
        dim: int,
        *,
        half_from: int = 0,
        int8_from: int = 0,
        cache_from: int = 0,
        chunk: int = 8192,
    ) -> CatalogRows:
        """Every item with a vector in ``space_id``, as float16 when there are at least ``half_from`` of them,
        as int8 with a scale per row from ``int8_from`` (0: never; float32 below both). Catalogues of at least
        ``cache_from`` items (0: never) are read from the vector cache beside the store when it matches this
        store's catalogue (see vector_cache.py); otherwise the rows are scanned out of SQLite and, if the
        catalogue is large enough and the store writable, marked for :meth:`save_cache`."""
        key: vector_cache.CacheKey | None = None
        where = vector_cache.cache_path(self._s.path)
        with self._s.read() as conn:
            n = conn.execute("SELECT count(*) FROM item_vectors WHERE model_id=?", (space_id,)).fetchone()[0]
            dtype: Any = np.float16 if half_from and n >= half_from else np.float32
            if int8_from and n >= int8_from:
                dtype = np.int8
            cached = cache_from and n >= cache_from and not self._s.encrypted  # no plain copy of an encrypted store
            epoch = self._s.meta_in(conn, "catalog_epoch") if cached else None
            if epoch:
                version = self._s.meta_in(conn, "catalog_version", "0") or "0"
                key = vector_cache.CacheKey(epoch, version, space_id, dim, np.dtype(dtype).name)
                got = vector_cache.read(where, key)
                if got is not None and len(got.iids) == n:
                    return got
            rows = self._scan(conn, space_id, dim, n, dtype, chunk)
        if key is not None and not self._s.readonly:
            rows.cache_key = key
        return rows

    def save_cache(self, rows: CatalogRows, extras: dict[str, np.ndarray] | None = None) -> bool:
        """Write scanned ``rows`` (those ``load`` marked cacheable) and arrays derived from them to the vector
        cache beside the store; False when there is nothing to write or the directory refused it."""
        if rows.cache_key is None:
            return False
        return vector_cache.write(vector_cache.cache_path(self._s.path), rows.cache_key, rows, extras)

    def _scan(self, conn: sqlite3.Connection, space_id: str, dim: int, n: int, dtype: Any, chunk: int) -> CatalogRows:
        """The rows streamed chunk by chunk into preallocated arrays (no second copy of the catalogue; one bytes
        join and one conversion per chunk, not per row); each distinct tag list is parsed once."""
        tags: list[tuple[str, ...]] = []
        parsed: dict[str, tuple[str, ...]] = {"[]": ()}
        width = dim * np.dtype(vectors.DTYPE).itemsize
        iids = np.empty(n, dtype=np.int64)
        # spare rows for the items this process will add (the snapshot appends into them instead of copying the
        # whole catalogue on the first add_items)
        matrix: np.ndarray | QuantizedRows
        if np.dtype(dtype) == np.int8:
            matrix = QuantizedRows.empty(n, dim)
        else:
            matrix = np.empty((n + spare_rows(n), dim), dtype=dtype)[:n]
        popularity = np.full(n, np.nan, dtype=np.float64)
        removed = np.zeros(n, dtype=bool)
        i = 0
        cur = conn.execute(
            "SELECT i.iid, i.tags, i.popularity, i.removed IS NOT NULL, v.vector FROM items i "
            "JOIN item_vectors v ON v.iid=i.iid AND v.model_id=? ORDER BY i.iid",
            (space_id,),
        )
        while rows := cur.fetchmany(chunk):
            m = len(rows)
            if i + m > n:  # cannot happen inside one read transaction; never write past the arrays
                rows, m = rows[: n - i], n - i
            ids, tag_json, pop, gone, blobs = zip(*rows)
            if any(len(bl) != width for bl in blobs):
                bad = next(r for r, bl in zip(ids, blobs) if len(bl) != width)
                raise StoreError(f"item {bad}: stored vector has the wrong size (run odrec doctor)")
            iids[i : i + m] = ids
            matrix[i : i + m] = np.frombuffer(b"".join(blobs), dtype=vectors.DTYPE).reshape(m, dim)
            popularity[i : i + m] = np.array(pop, dtype=np.float64)  # None → NaN
            removed[i : i + m] = gone
            for t in tag_json:
                got = parsed.get(t)
                if got is None:
                    got = parsed[t] = intern_tags(json.loads(t))
                tags.append(got)
            i += m
            if i >= n:
                break
        head = matrix.head(i) if isinstance(matrix, QuantizedRows) else matrix[:i]
        return CatalogRows(iids[:i], tags, head, popularity[:i], removed[:i])

    # --- popularity priors ------------------------------------------------------------------------
    def stats(self) -> list[tuple[int, str, float, int]]:
        """(iid, context key, accumulated weight, distinct consenting users) of every prior."""
        return [
            (int(a), str(b), float(c), int(d))
            for a, b, c, d in self._s.query("SELECT iid, ctx, weight, users FROM item_stats")
        ]

    def rebuild_stats_if_flagged(self, increments: Increments) -> bool:
        """After a migration that cleared the priors: rebuild them all (one transaction)."""
        if self._s.meta("stats_rebuild") != "1":
            return False
        with self._s.write() as conn:
            iids = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events")]
            statements.recompute_stats(conn, iids, increments)
            conn.execute("DELETE FROM meta WHERE key='stats_rebuild'")
            self._s.bump(conn, "stats_version")
        return True


def _item(r: tuple[Any, ...]) -> Item:
    return Item(r[0], r[1], r[2], tuple(json.loads(r[3])), json.loads(r[4]), None if r[5] is None else float(r[5]))
