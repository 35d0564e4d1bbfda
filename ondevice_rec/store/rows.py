"""The rows the store takes and hands back: a validated item, the catalogue as arrays (what the table and the
vector cache both build for the ranking), a stored profile. Plain data: this module imports nothing of the SDK."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


@dataclass
class CatalogRows:
    """Every item that has a vector in one space, in ``iid`` order, as arrays (what a snapshot is built from;
    ids and titles stay in the store)."""

    iids: np.ndarray
    tags: list[tuple[str, ...]]
    matrix: np.ndarray | QuantizedRows  # float32; float16 or int8 with row scales for large catalogues
    popularity: np.ndarray  # the catalogue's own popularity (NaN where the app gave none)
    removed: np.ndarray  # True for items removed from the catalogue (kept: histories still name them)
    # arrays the ranking derived from these rows and asked to keep in the vector cache (see save_cache)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # set when these rows were scanned for a catalogue large enough to cache: save_cache writes them
    cache_key: Any = None


@dataclass(frozen=True)
class Item:
    """A validated catalog item."""

    id: str
    title: str = ""
    text: str = ""
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    popularity: float | None = None  # shipped with the catalogue: the non-personalised fallback's prior
    # the app's own encoders' vectors of the item, per declared modality (``{"image": CLIP vector}``), float32
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "tags": list(self.tags),
            "meta": self.meta,
        }
        if self.popularity is not None:
            out["popularity"] = self.popularity
        return out


class StoredProfile(NamedTuple):
    """A profile's clauses and their vectors in one vector space, as stored (``pos``/``neg``: (n, dim) or None)."""

    positive: list[str]
    negative: list[str]
    pos: np.ndarray | None
    neg: np.ndarray | None


def intern_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as a tuple of interned strings: a catalogue repeats a few hundred tags over many items."""
    return tuple(sys.intern(t) for t in tags)


def spare_rows(n: int) -> int:
    """Rows of spare capacity kept after ``n`` (an eighth: appends stay amortised O(1) without doubling)."""
    return max(64, n // 8)


class QuantizedRows:
    """Vectors kept as int8 with one float32 scale per row (``row ≈ q * scale``, the row's largest magnitude
    mapped to 127): a quarter of float32's memory and a cheap conversion (numpy converts int8 to float32
    several times faster than float16 here). Reading rows gives float32; writing rows quantizes them. Keeps
    spare capacity after its ``n`` rows so appends do not copy the catalogue each time."""

    def __init__(self, q: np.ndarray, scale: np.ndarray, n: int | None = None) -> None:
        self._q, self._scale = q, scale  # buffers, possibly with spare rows
        self._n = len(q) if n is None else n

    @classmethod
    def empty(cls, n: int, dim: int) -> QuantizedRows:
        cap = n + spare_rows(n)
        return cls(np.empty((cap, dim), dtype=np.int8), np.empty(cap, dtype=np.float32), n)

    @classmethod
    def of(cls, x: np.ndarray) -> QuantizedRows:
        out = cls.empty(len(x), x.shape[1])
        out[:] = x
        return out

    @property
    def q(self) -> np.ndarray:
        return self._q[: self._n]

    @property
    def scale(self) -> np.ndarray:
        return self._scale[: self._n]

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, int(self._q.shape[1]))

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.int8)

    @property
    def nbytes(self) -> int:
        return self.q.nbytes + self.scale.nbytes

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, idx: Any) -> np.ndarray:
        q, s = self.q[idx], self.scale[idx]
        return q.astype(np.float32) * (np.asarray(s)[..., None] if np.ndim(s) else s)

    def __setitem__(self, idx: Any, value: Any) -> None:
        x = np.asarray(value, dtype=np.float32)
        top = np.abs(x).max(axis=-1) if x.size else np.zeros(x.shape[:-1], np.float32)
        scale = np.where(top > 0, top / 127.0, 1.0).astype(np.float32)
        self.q[idx] = np.rint(x / (scale[..., None] if x.ndim > 1 else scale)).astype(np.int8)
        self.scale[idx] = scale

    def head(self, n: int) -> QuantizedRows:
        """The first ``n`` rows (sharing the buffers)."""
        return QuantizedRows(self._q, self._scale, min(n, self._n))

    def appended(self, rows: np.ndarray) -> QuantizedRows:
        """These rows and ``rows`` after them (in place when the spare capacity suffices)."""
        m = len(rows)
        if self._n + m <= len(self._q):
            out = QuantizedRows(self._q, self._scale, self._n + m)
        else:
            out = QuantizedRows.empty(self._n + m, self.shape[1])
            out._q[: self._n], out._scale[: self._n] = self.q, self.scale
        out[self._n : self._n + m] = rows
        return out
