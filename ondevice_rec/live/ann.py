"""An approximate-nearest-neighbour index over the catalogue's vectors, for catalogues too large to score whole.

usearch's HNSW graph (an optional extra: ``pip install 'ondevice-rec[scale]'``), keyed by store id, holding its
own compact copy of the vectors (int8 for unit vectors, float16 otherwise). It proposes the items most similar
to a user; the ranker joins them with the most popular items and scores the union exactly
(``ranking.scoring.score_items_ann``). Persisted beside the store (``<store>-ann`` plus a JSON header
``<store>-ann.json``) — catalogue data only, like the vector cache — and kept current in place: this process's
own writes are added as they happen; on open, items another process wrote since the file was saved are found
by their ``updated_at`` and added; a file of another store, space or dimension, or one too far behind, is
rebuilt.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingExtraError
from ..ranking.scoring import VectorRows

SUFFIX = "-ann"
INSTALL = "pip install 'ondevice-rec[scale]'"


def available() -> bool:
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


def _index_class() -> Any:
    try:
        from usearch.index import Index
    except ImportError:
        raise MissingExtraError(f"an ANN index needs usearch: {INSTALL}") from None
    return Index


@dataclass(frozen=True)
class AnnHeader:
    """What a saved index must match to be used, and how current it is."""

    epoch: str  # the store's catalogue epoch (a re-created store never matches an old file)
    space_id: str
    dim: int
    dtype: str  # "i8" (unit vectors) or "f16"
    connectivity: int
    version: str | None  # the catalogue version the index is current with
    synced_at: float  # when it was last read whole: items written by others since are found by updated_at
    size: int


def paths(store_path: Path) -> tuple[Path, Path]:
    base = store_path.with_name(store_path.name + SUFFIX)
    return base, base.with_name(base.name + ".json")


def fingerprints(matrix: VectorRows, chunk: int = 8192) -> np.ndarray:
    """One complex number per row, equal for equal vectors: two projections, with integer weights, of the row
    rounded to 1/4096 — sums of integers below 2**53, so exact in float64 whatever the summation order (a
    BLAS kernel may sum a row differently at another position)."""
    proj = np.random.default_rng(20261206).integers(-1024, 1025, (matrix.shape[1], 2)).astype(np.float64)
    out = np.empty(matrix.shape[0], dtype=np.complex128)
    for s in range(0, matrix.shape[0], chunk):
        x = np.rint(np.asarray(matrix[s : s + chunk], np.float64) * 4096.0) @ proj
        out[s : s + chunk] = x[:, 0] + 1j * x[:, 1]
    return out


class Twins:
    """Groups of rows with one and the same vector, by store id. Real catalogues hold many (texts the model
    reads as the same tokens, e.g. words of a script its vocabulary lacks), and an HNSW graph cannot reach
    into a group of identical points: the index holds one id per group and a search returns the others with
    it. A member written again later may no longer be a twin: it is then one more candidate, scored exactly."""

    def __init__(self, groups: Sequence[Sequence[int]] = ()) -> None:
        self.groups = [list(map(int, g)) for g in groups if len(g) > 1]
        members = np.asarray([i for g in self.groups for i in g], np.int64)
        group = np.repeat(np.arange(len(self.groups)), [len(g) for g in self.groups])
        order = np.argsort(members, kind="stable")
        self._keys, self._group = members[order], group[order]

    @classmethod
    def of(cls, iids: np.ndarray, matrix: VectorRows) -> tuple[Twins, np.ndarray]:
        """The groups among these rows, and the rows to index (the first of each group, and every other row)."""
        prints = fingerprints(matrix)
        order = np.argsort(prints, kind="stable")
        ordered = prints[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        sizes = np.diff(np.append(starts, len(order)))
        groups = [np.sort(order[a : a + z]) for a, z in zip(starts.tolist(), sizes.tolist()) if z > 1]
        keep = np.sort(order[starts])
        return cls([iids[g].tolist() for g in groups]), keep

    def members(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The members of the groups some of ``keys`` belong to, and for each the rank of its group (0: the
        group of the first such key, and so on); empty when none."""
        none = np.zeros(0, np.int64)
        if not self._keys.size or not keys.size:
            return none, none
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        hit = self._keys[at] == keys
        if not hit.any():
            return none, none
        hits = self._group[at[hit]]
        _, first = np.unique(hits, return_index=True)
        groups = hits[np.sort(first)].tolist()  # in the order the keys name them
        more = [m for g in groups for m in self.groups[g]]
        return np.asarray(more, np.int64), np.repeat(np.arange(len(groups)), [len(self.groups[g]) for g in groups])


class AnnIndex:
    """usearch HNSW over (store id → vector); thread-safe for one writer and concurrent searches."""

    def __init__(self, index: Any, header: AnnHeader, expansion_search: int, twins: Twins | None = None) -> None:
        self._index = index
        self.header = header
        self.twins = twins or Twins()
        self._index.expansion_search = expansion_search
        self._lock = threading.Lock()
        self.dirty = False  # the header or the vectors changed since read or saved
        self._vectors_dirty = False  # the vectors did (the index file must be written again)

    @staticmethod
    def dtype_for(matrix: VectorRows, sample: int = 2048) -> str:
        """int8 when the rows are unit vectors (a quarter of float32's memory), else float16."""
        if not matrix.shape[0]:
            return "i8"
        step = max(1, matrix.shape[0] // sample)
        norms = np.linalg.norm(np.asarray(matrix[::step], np.float32), axis=1)
        return "i8" if bool(np.all(np.abs(norms - 1.0) < 1e-2)) else "f16"

    @classmethod
    def build(
        cls,
        iids: np.ndarray,
        matrix: VectorRows,
        *,
        epoch: str,
        space_id: str,
        version: str | None,
        synced_at: float,
        connectivity: int,
        expansion_add: int,
        expansion_search: int,
        threads: int = 0,
        chunk: int = 65_536,
    ) -> AnnIndex:
        """An index of the rows of ``matrix`` keyed by their ``iids``, one row per distinct vector."""
        dtype = cls.dtype_for(matrix)
        twins, rows = Twins.of(iids, matrix)
        index = _index_class()(
            ndim=matrix.shape[1],
            metric="cos" if dtype == "i8" else "ip",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
        )
        for s in range(0, len(rows), chunk):  # chunks: never a float32 copy of the whole matrix
            part = rows[s : s + chunk]
            index.add(np.asarray(iids[part], np.uint64), np.asarray(matrix[part], np.float32), threads=threads)
        header = AnnHeader(epoch, space_id, int(matrix.shape[1]), dtype, connectivity, version, synced_at, len(rows))
        out = cls(index, header, expansion_search, twins)
        out.dirty = out._vectors_dirty = True
        return out

    @classmethod
    def load(
        cls, store_path: Path, *, epoch: str, space_id: str, dim: int, connectivity: int, expansion_search: int
    ) -> AnnIndex | None:
        """The saved index if it belongs to this store, space and dimension and was built with this
        connectivity; None otherwise (never raises for a missing or damaged file: the caller rebuilds)."""
        path, head_path = paths(store_path)
        try:
            saved = json.loads(head_path.read_text(encoding="utf-8"))
            header, twins = AnnHeader(**saved["header"]), Twins(saved["twins"])
            if (header.epoch, header.space_id, header.dim, header.connectivity) != (epoch, space_id, dim, connectivity):
                return None
            index = _index_class().restore(str(path))
        except (OSError, ValueError, TypeError, KeyError, RuntimeError):
            return None
        if index is None or len(index) != header.size or index.ndim != dim:
            return None
        return cls(index, header, expansion_search, twins)

    def save(self, store_path: Path) -> None:
        """Write the index and its header atomically (each by rename; the header last, so a header never
        names a half-written index)."""
        path, head_path = paths(store_path)
        with self._lock:
            if self._vectors_dirty or not path.exists():  # a header-only change leaves the big file alone
                tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
                self._index.save(str(tmp))
                os.replace(tmp, path)
            header = AnnHeader(**{**asdict(self.header), "size": len(self._index)})
            htmp = head_path.with_name(f"{head_path.name}.tmp{os.getpid()}")
            htmp.write_text(json.dumps({"header": asdict(header), "twins": self.twins.groups}), encoding="utf-8")
            os.replace(htmp, head_path)
            self.header = header
            self.dirty = self._vectors_dirty = False

    def __len__(self) -> int:
        return len(self._index)

    def upsert(self, iids: Sequence[int] | np.ndarray, vecs: np.ndarray) -> None:
        """Add these items, replacing any vector an id already has."""
        keys = np.asarray(iids, np.uint64)
        if not keys.size:
            return
        with self._lock:
            present = np.asarray(self._index.contains(keys), bool).reshape(-1)
            if present.any():
                self._index.remove(keys[present])
            self._index.add(keys, np.asarray(vecs, np.float32))
            self.dirty = self._vectors_dirty = True

    def differs(self, iids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Per id, whether the index lacks it (and it is no twin, which it lacks on purpose) or holds another
        direction for it than ``vecs``: what a catch-up must write (a popularity or removal change leaves the
        vectors as they were)."""
        if not len(iids):
            return np.zeros(0, dtype=bool)
        with self._lock:
            held = self._index.get(np.asarray(iids, np.uint64), dtype=np.float32)
        held = held if isinstance(held, (list, tuple)) else [held]
        twins, _ = self.twins.members(np.asarray(iids, np.int64))
        out = ~np.isin(np.asarray(iids, np.int64), twins)  # missing: to write, unless a twin
        for i, (h, v) in enumerate(zip(held, np.asarray(vecs, np.float32))):
            if h is not None:
                h = np.asarray(h, np.float32).reshape(-1)
                out[i] = float(h @ v) < 0.99 * float(np.linalg.norm(h) * np.linalg.norm(v))
        return out

    def synced(self, version: str | None, synced_at: float | None = None) -> None:
        """The index is now current with catalogue ``version`` (read whole at ``synced_at``, if given)."""
        with self._lock:
            if version != self.header.version or synced_at is not None:
                at = self.header.synced_at if synced_at is None else synced_at
                self.header = AnnHeader(**{**asdict(self.header), "version": version, "synced_at": at})
                self.dirty = True

    def search(self, q: np.ndarray, count: int) -> np.ndarray:
        """Store ids of about ``count`` items most similar to ``q`` (best first); their twins are
        :attr:`twins`' to add."""
        m = self._index.search(np.asarray(q, np.float32), count)
        return np.asarray(m.keys, np.int64)
