"""Item-item co-occurrence similarity (item-kNN): cosine of the item columns of the user × item matrix,
top ``neighbours`` per item kept. A user's score for item j sums the similarities of j to their history.

One implementation for the evaluation harness's ItemKNN baseline and the export's first-stage retriever.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError, missing_extra


def cooccurrence_similarity(sequences: Sequence[np.ndarray], n_items: int, neighbours: int = 100) -> np.ndarray:
    """(n_items, n_items) float32 similarity, zero diagonal, each row keeping its ``neighbours`` largest."""
    x = np.zeros((len(sequences), n_items), dtype=np.float32)
    for u, seq in enumerate(sequences):
        x[u, seq] = 1.0
    co = x.T @ x
    norms = np.sqrt(np.diag(co)).clip(min=1e-9)
    sim = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    if neighbours < n_items:
        cut = np.partition(sim, n_items - neighbours, axis=1)[:, n_items - neighbours][:, None]
        sim = np.where(sim >= cut, sim, 0.0)
    return np.asarray(sim, dtype=np.float32)


def cooccurrence_scores(sim: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
    """(len(histories), n_items) scores: the summed similarity of every item to each history."""
    out = np.zeros((len(histories), sim.shape[0]), dtype=np.float32)
    for r, h in enumerate(histories):
        if len(h):
            out[r] = sim[h].sum(axis=0)
    return out


@dataclass(frozen=True)
class Neighbours:
    """The same similarity kept sparse (CSR over item rows): row ``i``'s neighbours are
    ``indices[indptr[i]:indptr[i + 1]]`` with ``weights`` alike. What a bundle ships and the runtime sums over a
    history in well under a millisecond: O(history × neighbours), independent of the catalogue."""

    indptr: np.ndarray  # (n_items + 1,) int64
    indices: np.ndarray  # (nnz,) int32
    weights: np.ndarray  # (nnz,) float32

    @property
    def n_items(self) -> int:
        return len(self.indptr) - 1

    def _spans(
        self, history: Sequence[int] | np.ndarray, entry_weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The neighbour entries of ``history`` as flat columns: (position in ``history``, neighbour, weight, scaled
        by the entry's ``entry_weights`` when given); rows outside the table, and entries weighted 0, have none."""
        h = np.asarray(history, dtype=np.int64)
        ok = (h >= 0) & (h < self.n_items)
        if entry_weights is not None:
            ok &= np.asarray(entry_weights) != 0
        keep = np.flatnonzero(ok)
        if not keep.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        starts, ends = self.indptr[h[keep]], self.indptr[h[keep] + 1]
        spans = [slice(int(a), int(b)) for a, b in zip(starts.tolist(), ends.tolist())]
        pos = np.repeat(keep, (ends - starts).astype(np.int64))
        w = np.concatenate([self.weights[sl] for sl in spans])
        if entry_weights is not None:
            w = w * np.asarray(entry_weights, np.float32)[pos]
        return pos, np.concatenate([self.indices[sl] for sl in spans]), w

    def scores(
        self,
        history: Sequence[int] | np.ndarray,
        out: np.ndarray | None = None,
        entry_weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """The summed similarity of every item to ``history`` (item rows, one row summed per entry, as
        :func:`cooccurrence_scores` does; rows outside the table are ignored), each entry's row scaled by
        ``entry_weights`` when given (entries weighted 0 are skipped)."""
        res = np.zeros(self.n_items, dtype=np.float32) if out is None else out
        _, idx, w = self._spans(history, entry_weights)
        if idx.size:
            res += np.bincount(idx, weights=w, minlength=self.n_items).astype(np.float32)
        return res

    def prefix_scores(self, windows: np.ndarray, half_life: float | None) -> np.ndarray:
        """:meth:`scores` after every prefix of left-padded windows at once: ``windows`` (B, W) item rows, oldest
        first, -1 = padding before the first item; the result (B, W + 1, n_items) float32 holds at ``[b, p]`` the
        scores of ``windows[b, :p]`` with recency weights by place (the newest entry age 0), as a student's output
        at position ``p`` has read those ``p`` entries — the window only: entries before it are not read, as the
        student does not read them (the runtime reads the newest 500). An item repeated in a window counts at each
        of its places (the runtime holds it once, at its newest: :func:`newest_first`; the same for windows
        without repeats).
        One sparse product: (prefix × entry weights) @ table."""
        try:
            from scipy import sparse
        except ImportError:
            raise missing_extra("eval", "scipy", "prefix scores are a product of scipy's sparse matrices") from None
        win = np.asarray(windows, dtype=np.int64)
        b_n, width = win.shape
        ages = recency_weights(width, half_life)
        ages = np.ones(width, np.float32) if ages is None else ages
        rows, cols, vals = [], [], []
        for a in np.flatnonzero(ages).tolist():  # the entry at column c is age a at position c + 1 + a
            src = win[:, : width - a]
            b, c = np.nonzero((src >= 0) & (src < self.n_items))
            rows.append(b * (width + 1) + c + 1 + a)
            cols.append(src[b, c])
            vals.append(np.full(len(b), ages[a], np.float32))
        shape = (b_n * (width + 1), self.n_items)
        m = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
        t = sparse.csr_matrix(
            (self.weights.astype(np.float32), self.indices, self.indptr), shape=(self.n_items, self.n_items)
        )
        return np.asarray((m @ t).toarray(), dtype=np.float32).reshape(b_n, width + 1, self.n_items)

    def links(
        self, history: Sequence[int] | np.ndarray, entry_weights: np.ndarray | None = None
    ) -> Callable[[int], np.ndarray]:
        """``f(target)``: per entry of ``history``, its similarity to item row ``target`` (what each history item
        adds to the target's :meth:`scores` with the same ``entry_weights``; 0 where the target is not among its
        neighbours)."""
        pos, idx, w = self._spans(history, entry_weights)
        n = len(history)

        def of(target: int) -> np.ndarray:
            out = np.zeros(n, dtype=np.float32)
            hit = idx == target
            np.add.at(out, pos[hit], w[hit])
            return out

        return of

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, indptr=self.indptr, indices=self.indices, weights=self.weights)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Neighbours:
        """Raises ValueError (or KeyError/OSError from numpy) on a malformed file; the caller words it."""
        arrays = np.load(io.BytesIO(data))
        return cls.checked(arrays["indptr"], arrays["indices"], arrays["weights"])

    @classmethod
    def checked(cls, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> Neighbours:
        """The table of these arrays (as read from a file), or ArgumentError when they do not fit together."""
        nb = cls(indptr.astype(np.int64), indices.astype(np.int32), weights.astype(np.float32))
        n = nb.n_items
        if (
            n < 0
            or nb.indptr[0] != 0
            or nb.indptr[-1] != len(nb.indices)
            or len(nb.indices) != len(nb.weights)
            or bool(np.any(np.diff(nb.indptr) < 0))
            or (len(nb.indices) and (int(nb.indices.min()) < 0 or int(nb.indices.max()) >= n))
        ):
            raise ArgumentError("inconsistent neighbour arrays")
        return nb


def cooccurrence_neighbours(
    sequences: Sequence[np.ndarray], n_items: int, neighbours: int = 100, block_entries: int = 1 << 22
) -> Neighbours:
    """:func:`cooccurrence_similarity` without the dense (n_items²) matrix: the pair counts of a block of item rows
    at a time (scipy's sparse user × item product, at most ``block_entries`` counts a block), each row keeping the
    values at least its ``neighbours``-th largest (ties kept, as the dense version keeps them). Memory: one block,
    not every co-occurring pair at once (ml-latest-small's 2,000-item histories made ~2 GB of pair keys)."""
    try:
        from scipy import sparse
    except ImportError:
        raise missing_extra("eval", "scipy", "co-occurrence counts are scipy sparse products") from None
    sets = [np.unique(np.asarray(s, dtype=np.int64)) for s in sequences]
    bad = next((s for s in sets if len(s) and (s[0] < 0 or s[-1] >= n_items)), None)
    if bad is not None:  # scipy does not check the indices of a matrix built from (data, indices, indptr)
        raise ArgumentError(f"item rows must lie in 0 … {n_items - 1}, got {int(bad[0] if bad[0] < 0 else bad[-1])}")
    lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    x = sparse.csr_matrix(
        (np.ones(int(lengths.sum())), np.concatenate(sets) if sets else np.zeros(0, np.int64),
         np.concatenate([[0], np.cumsum(lengths)])),
        shape=(len(sets), n_items),
    )  # fmt: skip
    count = np.asarray(x.sum(axis=0)).ravel()
    norms = np.sqrt(count).clip(min=1e-9)
    xt = x.T.tocsr()
    step = max(1, block_entries // max(n_items, 1))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, n_items, step):
        c = (xt[start : start + step] @ x).tocsr()
        c.sort_indices()
        rows = np.repeat(np.arange(c.shape[0], dtype=np.int64) + start, np.diff(c.indptr))
        cols = c.indices.astype(np.int64)
        off = rows != cols
        rows, cols, counts = rows[off], cols[off], c.data[off]
        sims = (counts / norms[rows] / norms[cols]).astype(np.float32)
        order = np.lexsort((-sims, rows))  # by row, then similarity descending (ties: column ascending)
        parts.append(_top_kept(rows[order], cols[order], sims[order], start, c.shape[0], neighbours))
    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    cols = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    sims = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.float32)
    indptr = np.searchsorted(rows, np.arange(n_items + 1)).astype(np.int64)
    return Neighbours(indptr, cols.astype(np.int32), sims)


def _top_kept(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, start: int, n_rows: int, neighbours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries sorted by row then similarity descending, each row of ``start … start + n_rows`` keeping the values
    at least its ``neighbours``-th largest."""
    starts = np.searchsorted(rows, np.arange(start, start + n_rows + 1))
    keep = np.ones(len(rows), dtype=bool)
    for i in np.flatnonzero(np.diff(starts) > neighbours).tolist():
        a, b = starts[i], starts[i + 1]
        keep[a:b] = sims[a:b] >= sims[a + neighbours - 1]
    return rows[keep], cols[keep], sims[keep]


def successor_neighbours(
    sequences: Sequence[np.ndarray], n_items: int, window: int = 5, decay: float = 0.7, neighbours: int = 100
) -> Neighbours:
    """What follows an item — directed, unlike co-occurrence and EASE (what comes after a, not what goes with
    it): in every sequence, a followed ``d`` places later (d ≤ ``window``) by another item b adds decay^(d−1)
    to (a, b); each sum is divided by √((count a + 1)(count b + 1)), as cosine divides; each row keeps its
    ``neighbours`` largest. Summed over a history (newest weighted most), it scores what comes next."""
    try:
        from scipy import sparse
    except ImportError:
        raise missing_extra("eval", "scipy", "the successor table is built with scipy's sparse matrices") from None
    counts = np.zeros(n_items)
    rows, cols, vals = [], [], []
    for seq in sequences:
        s = np.asarray(seq, np.int64)
        np.add.at(counts, s, 1.0)
        for d in range(1, min(window, len(s) - 1) + 1):
            rows.append(s[:-d])
            cols.append(s[d:])
            vals.append(np.full(len(s) - d, decay ** (d - 1)))
    if not rows:
        return Neighbours(np.zeros(n_items + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = r != c  # an item repeated right after itself is not its own successor
    m = sparse.coo_matrix((v[keep], (r[keep], c[keep])), shape=(n_items, n_items)).tocsr()  # duplicates summed
    inv = sparse.diags(1.0 / np.sqrt(counts + 1.0))
    return top_per_row((inv @ m @ inv).tocsr(), neighbours)


def top_per_row(m: Any, neighbours: int) -> Neighbours:
    """Each row of the scipy CSR matrix ``m``: its ``neighbours`` largest positive weights."""
    indptr, indices, weights = [0], [], []
    for i in range(m.shape[0]):
        a, b = m.indptr[i], m.indptr[i + 1]
        idx, w = m.indices[a:b], m.data[a:b]
        top = np.argsort(-w, kind="stable")[:neighbours]
        top = top[w[top] > 0]
        indices.append(idx[top].astype(np.int32))
        weights.append(w[top].astype(np.float32))
        indptr.append(indptr[-1] + len(top))
    return Neighbours(
        np.asarray(indptr, np.int64),
        np.concatenate(indices) if indices else np.zeros(0, np.int32),
        np.concatenate(weights) if weights else np.zeros(0, np.float32),
    )


# below this recency weight a history entry is skipped (its row adds less than 2^-16 of the newest entry's)
RECENCY_FLOOR = 2.0**-16
# recency half-lives an export's item-item blend and the harness's EASE tune over (in history items, newest first;
# None: the whole history counts fully). Next-item targets follow what was just watched: on ml-latest-small's
# validation users EASE (lambda 100) alone scores 0.0446 over the whole history and 0.0822 at half-life 1
HALF_LIVES: tuple[float | None, ...] = (None, 0.5, 1.0, 2.0, 4.0, 8.0, 32.0)


def newest_first(history: Sequence[int] | np.ndarray) -> np.ndarray:
    """A history given oldest first as the runtime holds it: newest first, each item once (at its newest)."""
    h = np.asarray(history, dtype=np.int64)[::-1]
    _, first = np.unique(h, return_index=True)
    return h[np.sort(first)]


def recency_weights(ages: int | np.ndarray, half_life: float | None) -> np.ndarray | None:
    """Weights of history entries ordered newest first, given their ages (an int n: ages 0 … n-1, one entry a
    step): 1 for age 0, halving every ``half_life`` steps back, 0 once under :data:`RECENCY_FLOOR`; None (every
    entry counts fully) when ``half_life`` is None."""
    if half_life is None:
        return None
    if not half_life > 0:
        raise ArgumentError(f"the recency half-life must be above 0, not {half_life}")
    a = np.arange(int(ages), dtype=np.float64) if np.ndim(ages) == 0 else np.asarray(ages, dtype=np.float64)
    w = np.exp2(-a / half_life)
    return np.where(w >= RECENCY_FLOOR, w, 0.0).astype(np.float32)


def tied_ages(at: np.ndarray) -> np.ndarray:
    """Ages of history entries ordered newest first from their times: each entry's position, entries recorded at
    the same moment sharing the newest one's (the titles a profile names, a bulk import's same-second events:
    no order among them to weight)."""
    t = np.asarray(at, dtype=np.float64)
    if not t.size:
        return np.zeros(0, np.int64)
    starts = np.concatenate([[True], t[1:] != t[:-1]])
    return np.flatnonzero(starts)[np.cumsum(starts) - 1]


@dataclass(frozen=True)
class ItemItem:
    """A bundle's item-item blend: ``weight`` × the history's summed neighbour similarity is added to every
    item's score, each history item's row scaled by its recency (:func:`recency_weights`, newest first) when
    ``half_life`` is set. ``row_of`` maps an item id to its row in ``neighbours`` (the bundle's training items)."""

    neighbours: Neighbours
    weight: float
    row_of: dict[str, int]
    half_life: float | None = None

    def rows_for(self, item_ids: Sequence[str]) -> np.ndarray:
        """Neighbour-table rows of these item ids (-1: an item the bundle was not trained on)."""
        return np.asarray([self.row_of.get(str(i), -1) for i in item_ids], dtype=np.int64)

    def _ages(self, n: int, history_at: np.ndarray | None) -> int | np.ndarray:
        return n if history_at is None else tied_ages(history_at)

    def catalogue_scores(
        self, history_rows: np.ndarray, table_rows: np.ndarray, history_at: np.ndarray | None = None
    ) -> np.ndarray:
        """Weighted scores for every catalogue row, given the table row of each catalogue row (``table_rows``,
        -1 = none) and the catalogue rows of the history, newest first (an entry's recency counts its place in
        the whole history, items outside the table included; with ``history_at``, the entries' times, entries
        at the same moment share one age: :func:`tied_ages`)."""
        h = table_rows[np.asarray(history_rows, dtype=np.int64)]
        s = self.neighbours.scores(h, entry_weights=recency_weights(self._ages(len(h), history_at), self.half_life))
        return np.where(table_rows >= 0, s[table_rows.clip(min=0)], 0.0).astype(np.float32) * np.float32(self.weight)

    def catalogue_links(
        self, history_rows: np.ndarray, table_rows: np.ndarray, history_at: np.ndarray | None = None
    ) -> Callable[[int], np.ndarray]:
        """``f(row)``: per history row, what it adds to catalogue row ``row``'s weighted item-item score (the
        history item a co-occurrence reason names is the one adding most)."""
        hist = np.asarray(history_rows, dtype=np.int64)
        of = self.neighbours.links(table_rows[hist], recency_weights(self._ages(len(hist), history_at), self.half_life))

        def f(row: int) -> np.ndarray:
            target = int(table_rows[row])
            return of(target) * np.float32(self.weight) if target >= 0 else np.zeros(len(hist), np.float32)

        return f
