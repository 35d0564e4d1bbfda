"""The in-memory catalogue a request ranks: vectors, store ids, tags and popularity priors, as arrays.

Compact by design: ids and titles stay in the store (a request fetches them for the few items it names),
tags are tuples of interned strings, rows are found by binary search over the sorted store ids, and large
catalogues keep their vectors in float16 (exact scores are computed in float32 on the candidates only).
Built from the store's rows; updated in place after this process's own writes; rebuilt when another
connection changed the catalogue. Pure data plus the low-rank prefilter view, built on first use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..ranking.scoring import Prefilter, build_prefilter
from ..store.rows import QuantizedRows, intern_tags, spare_rows
from .ann import AnnIndex


@dataclass
class CatalogSnapshot:
    version: str | None = None
    iids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sorted store ids, one per row
    tags: list[tuple[str, ...]] = field(default_factory=list)
    # float32; float16 from RankingConfig.half_precision_min_items; int8 with row scales from int8_min_items
    matrix: np.ndarray | QuantizedRows = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    catalog_pop: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))  # NaN: none given
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # never recommended again
    pop_raw: dict[str, np.ndarray] = field(default_factory=dict)  # context key → k-anonymous local weight per row
    # context key → accumulated weight and distinct consenting users per row, whatever k (pop_raw is derived)
    pop_weight: dict[str, np.ndarray] = field(default_factory=dict)
    pop_users: dict[str, np.ndarray] = field(default_factory=dict)
    stats_loaded_at: float = 0.0
    data_version: int = -1
    _prefilter: Prefilter | None = field(default=None, repr=False)
    _buf: np.ndarray | None = field(default=None, repr=False)  # rows with spare capacity; matrix is a view
    _low_buf: np.ndarray | None = field(default=None, repr=False)  # the same for the prefilter's low-rank rows
    # per row, its row in the bundle's item-item table (-1: none); built on first use, dropped when rows are added
    table_rows: np.ndarray | None = field(default=None, repr=False)
    # the log-scaled priors requests read, computed once per change of the popularity arrays
    _priors: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)
    # large catalogues: the ANN index over these rows' vectors (shared with the next snapshot; see live.ann)
    ann: AnnIndex | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        version: str | None,
        iids: np.ndarray,
        tags: list[tuple[str, ...]],
        matrix: np.ndarray | QuantizedRows,
        catalog_pop: np.ndarray | None = None,
        removed: np.ndarray | None = None,
    ) -> CatalogSnapshot:
        iids = np.asarray(iids, dtype=np.int64)
        if iids.size > 1 and not bool(np.all(iids[1:] > iids[:-1])):
            raise ArgumentError("snapshot rows must be in increasing store-id order")
        snap = cls(version, iids, tags, matrix)
        if isinstance(matrix, np.ndarray) and _has_spare_rows(matrix):
            snap._buf = matrix.base  # the loader left spare rows after the catalogue: appends go there
        snap.catalog_pop = catalog_pop if catalog_pop is not None else np.full(len(iids), np.nan)
        snap.removed = removed if removed is not None else np.zeros(len(iids), dtype=bool)
        return snap

    def __len__(self) -> int:
        return len(self.iids)

    # --- rows ------------------------------------------------------------------------------------
    def row_of(self, iid: int) -> int | None:
        """The row of store id ``iid`` (binary search), or None."""
        r = int(np.searchsorted(self.iids, iid))
        return r if r < len(self.iids) and int(self.iids[r]) == iid else None

    def rows_of(self, iids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows of the given store ids, -1 where there is none (vectorised binary search)."""
        q = np.asarray(iids, dtype=np.int64)
        if not len(self.iids) or not q.size:
            return np.full(q.shape, -1, dtype=np.int64)
        r = np.minimum(np.searchsorted(self.iids, q), len(self.iids) - 1)
        return np.where(self.iids[r] == q, r, -1)

    def nearest_rows(self, v: np.ndarray, count: int, allowed: np.ndarray) -> tuple[np.ndarray, bool]:
        """Rows of about ``count`` items nearest to ``v`` by the ANN index, best first, then at most ``count`` of
        their allowed twins (items with the same vector), nearest groups first, at most ``count // 20`` per
        group (at least 10), the most popular first — members of a group score alike but for their priors, and
        a request asks ``count`` for at most ``count // 20`` items. Also: whether the index gave all ``count``."""
        assert self.ann is not None
        keys = self.ann.search(v, count)
        members, group = self.ann.twins.members(keys)
        rows, more = self.rows_of(keys), self.rows_of(members)
        ok = more >= 0
        ok[ok] = allowed[more[ok]]
        group, more = group[ok], more[ok]
        cap = max(10, count // 20)
        if more.size > cap:
            pop = self.prior("")
            assert pop is not None
            order = np.lexsort((-pop[more], group))  # by group, the most popular first
            first = np.searchsorted(group[order], group[order], "left")
            more = more[order[np.arange(len(order)) - first < cap]][:count]
        rows = np.concatenate([rows, more]) if more.size else rows
        return rows[rows >= 0], len(keys) >= count

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows of the matrix in float32 (whatever the storage precision)."""
        return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    # --- in-place updates after this process's own writes ----------------------------------------
    def upsert(self, iids: Sequence[int], items: Sequence[Any], vecs: Mapping[int, np.ndarray]) -> bool:
        """Apply written items (``vecs``: position in ``items`` → new vector) without reloading the catalogue:
        changed rows are overwritten, new ones appended into spare capacity (amortised O(1) per item).
        Returns False when it cannot (a new item without a vector, or ids out of order): the caller reloads."""
        rows = self.rows_of(iids)
        self._priors.clear()
        new = [(i, int(iid)) for i, iid in enumerate(iids) if rows[i] < 0]
        if any(i not in vecs for i, _ in new):
            return False
        last = int(self.iids[-1]) if len(self.iids) else -1
        fresh = sorted(iid for _, iid in new)
        if fresh and (fresh[0] <= last or len(set(fresh)) != len(fresh)):
            return False
        for i, r in enumerate(rows.tolist()):
            if r < 0:
                continue
            it = items[i]
            self.tags[r] = intern_tags(it.tags)
            self.catalog_pop[r] = np.nan if it.popularity is None else it.popularity
            self.removed[r] = False
            if i in vecs:
                self.matrix[r] = vecs[i]
                if self._prefilter is not None:
                    self._prefilter.low[r] = np.asarray(vecs[i], np.float32) @ self._prefilter.basis
        if not new:
            self._vectors_written(iids, vecs)
            return True
        new.sort(key=lambda p: p[1])
        self.table_rows = None
        n, m = len(self.iids), len(new)
        dim = self.matrix.shape[1] if self.matrix.ndim == 2 and self.matrix.shape[1] else len(vecs[new[0][0]])
        add = np.stack([np.asarray(vecs[i], dtype=np.float32) for i, _ in new])
        if isinstance(self.matrix, QuantizedRows):
            self.matrix = self.matrix.appended(add)
        else:
            self._buf = _grow(self._buf, self.matrix, n + m, dim)
            self._buf[n : n + m] = add
            self.matrix = self._buf[: n + m]
        self.iids = np.concatenate([self.iids, np.asarray([iid for _, iid in new], dtype=np.int64)])
        self.tags.extend(intern_tags(items[i].tags) for i, _ in new)
        pops = [np.nan if items[i].popularity is None else items[i].popularity for i, _ in new]
        self.catalog_pop = np.concatenate([self.catalog_pop, np.asarray(pops, dtype=np.float64)])
        self.removed = np.concatenate([self.removed, np.zeros(m, dtype=bool)])
        for arrays in (self.pop_raw, self.pop_weight, self.pop_users):
            for c, a in arrays.items():
                arrays[c] = np.concatenate([a, np.zeros(m, dtype=a.dtype)])
        if self._prefilter is not None:  # appended into spare capacity too (a copy per add is O(n))
            pf = self._prefilter
            self._low_buf = _grow(self._low_buf, pf.low, n + m, pf.low.shape[1])
            self._low_buf[n : n + m] = add @ pf.basis
            self._prefilter = Prefilter(pf.basis, self._low_buf[: n + m])
        self._vectors_written(iids, vecs)
        return True

    def _vectors_written(self, iids: Sequence[int], vecs: Mapping[int, np.ndarray]) -> None:
        """The ANN index follows the rows whose vectors were just written."""
        if not vecs:
            return
        keys = np.asarray(iids, np.int64)[list(vecs)]
        if self.ann is not None:
            self.ann.upsert(keys, np.stack([np.asarray(vecs[i], np.float32) for i in vecs]))

    def mark_removed(self, iids: Iterable[int]) -> None:
        for r in self.rows_of(list(iids)).tolist():
            if r >= 0:
                self.removed[r] = True

    # --- popularity priors -----------------------------------------------------------------------
    def set_stats(self, rows: Iterable[tuple[int, str, float, int]], data_version: int, min_users: int) -> None:
        """Load (iid, context key, weight, distinct users) priors, keeping only those that at least
        ``min_users`` distinct consenting users stand behind (k-anonymity)."""
        self.pop_weight, self.pop_users, self.pop_raw = {}, {}, {}
        self._priors.clear()
        self.add_stats(rows, min_users)
        self.pop_raw.setdefault("", np.zeros(len(self.iids), dtype=np.float64))
        self.stats_loaded_at = time.monotonic()
        self.data_version = data_version

    def add_stats(self, rows: Iterable[tuple[int, str, float, int]], min_users: int) -> None:
        """Add (iid, context key, weight, new distinct users) increments — what this process just wrote to the
        store's priors — without reading them all again."""
        rows = list(rows)
        if not rows:
            return
        where = self.rows_of([r[0] for r in rows])
        n = len(self.iids)
        changed = False  # what requests read (the k-anonymous counts): unchanged, the derived priors stay
        for (_, ctx, w, users), r in zip(rows, where.tolist()):
            if r < 0:
                continue
            if ctx not in self.pop_weight:
                self.pop_weight[ctx] = np.zeros(n, dtype=np.float64)
                self.pop_users[ctx] = np.zeros(n, dtype=np.int64)
            self.pop_weight[ctx][r] += w
            self.pop_users[ctx][r] += users
            if self.pop_users[ctx][r] >= min_users:
                if ctx not in self.pop_raw:
                    self.pop_raw[ctx] = np.zeros(n, dtype=np.float64)
                self.pop_raw[ctx][r] = self.pop_weight[ctx][r]
                changed = True
        if changed:
            self._priors.clear()

    def stale_stats(self) -> None:
        """Our own write changed the priors: reload them on the next request."""
        self.data_version = -1
        self.stats_loaded_at = 0.0

    def set_catalogue_popularity(self, rows: np.ndarray, values: np.ndarray) -> None:
        """The popularity the app set for these rows (``set_priors``)."""
        self.catalog_pop[rows] = values
        self._priors.clear()

    def _cached(self, key: str, make: Callable[[], np.ndarray | None]) -> np.ndarray | None:
        if key not in self._priors:
            self._priors[key] = make()
        return self._priors[key]

    def local_prior(self, ctx: str) -> np.ndarray | None:
        """k-anonymous local popularity in context ``ctx`` ("" = overall), log-scaled to [0, 1]; None when
        nothing is known in that context. Computed once per change of the counts (read-only: do not modify)."""
        return self._cached("local:" + ctx, lambda: log_scaled(self.pop_raw.get(ctx)))

    def catalogue_prior(self) -> np.ndarray | None:
        """The popularity the catalogue shipped with, log-scaled to [0, 1]; None when it has none."""

        def make() -> np.ndarray | None:
            if not np.isfinite(self.catalog_pop).any():
                return None
            return log_scaled(np.nan_to_num(self.catalog_pop, nan=0.0))

        return self._cached("catalogue", make)

    def prior(self, ctx: str) -> np.ndarray | None:
        """The popularity prior: in a context, the local one; overall, the mean of the catalogue's and the
        local one (whichever exist; zeros when neither does)."""
        if ctx:
            return self.local_prior(ctx)

        def make() -> np.ndarray:
            parts = [p for p in (self.catalogue_prior(), self.local_prior("")) if p is not None]
            if not parts:
                return np.zeros(len(self.iids), dtype=np.float32)
            return np.mean(parts, axis=0).astype(np.float32)

        return self._cached("prior", make)

    def popularity_order(self, m: int) -> np.ndarray:
        """The ``m`` rows of highest overall prior, highest first (a partial sort, kept until the priors change:
        asking for fewer reuses it)."""
        have = self._priors.get("order")
        if have is None or len(have) < min(m, len(self.iids)):
            pop = self.prior("")
            assert pop is not None
            want = min(max(m, 2 * len(have) if have is not None else 0), len(pop))
            top = np.argpartition(-pop, want - 1)[:want] if 0 < want < len(pop) else np.arange(len(pop))
            have = top[np.lexsort((top, -pop[top]))]  # by prior, ties by row
            self._priors["order"] = have
            self._priors.pop("order_vectors", None)
        return have[:m]

    def popular(self, m: int, vectors: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`popularity_order` and, if asked, those rows' vectors in float32, kept with it (the same few
        thousand rows every request: converted once, not per request)."""
        rows = self.popularity_order(m)
        if not vectors:
            return rows, None
        vecs = self._priors.get("order_vectors")
        if vecs is None or len(vecs) < len(rows):
            order = self._priors["order"]  # the whole cached order, which covers ``rows``
            assert order is not None
            vecs = self.vectors(order)
            self._priors["order_vectors"] = vecs
        return rows, vecs[: len(rows)]

    def set_prefilter(self, pf: Prefilter) -> None:
        """Adopt a prefilter computed earlier for exactly these rows (the vector cache's copy)."""
        if pf.low.shape[0] != len(self.iids) or pf.basis.shape[0] != self.matrix.shape[1]:
            raise ArgumentError("prefilter does not match the snapshot's rows")
        self._prefilter = pf

    def prefilter(self, rank: int) -> Prefilter:
        """The low-rank view for coarse-to-fine search, built on first use for this snapshot."""
        if self._prefilter is None or self._prefilter.basis.shape[1] != min(rank, self.matrix.shape[1]):
            self._prefilter = build_prefilter(self.matrix, rank)
        return self._prefilter


def _has_spare_rows(matrix: np.ndarray) -> bool:
    """Is ``matrix`` the first rows of a larger C-contiguous buffer of the same row shape and type?"""
    base = matrix.base
    return (
        isinstance(base, np.ndarray)
        and base.ndim == 2
        and base.shape[1:] == matrix.shape[1:]
        and base.dtype == matrix.dtype
        and base.shape[0] > matrix.shape[0]
        and base.flags.c_contiguous
        and base.__array_interface__["data"][0] == matrix.__array_interface__["data"][0]
    )


def _grow(buf: np.ndarray | None, matrix: np.ndarray, need: int, dim: int) -> np.ndarray:
    """A row buffer holding ``matrix`` with room for ``need`` rows. Capacity grows by an eighth (geometric, so
    appends stay amortised O(1), without doubling the memory of a 100k catalogue on its first append)."""
    if buf is not None and buf.shape[0] >= need and buf.shape[1] == dim and np.shares_memory(buf, matrix):
        return buf
    cap = max(need, len(matrix) + spare_rows(len(matrix)))
    out = np.empty((cap, dim), dtype=matrix.dtype if matrix.size else np.float32)
    out[: len(matrix)] = matrix
    return out


def log_scaled(raw: np.ndarray | None) -> np.ndarray | None:
    """Counts as a popularity prior in [0, 1]: log1p(count) / log1p(max) (the runtime's scaling)."""
    if raw is None:
        return None
    top = float(raw.max()) if raw.size else 0.0
    return (np.log1p(raw) / math.log1p(top)).astype(np.float32) if top > 0 else np.zeros_like(raw, np.float32)
