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
    matrix: np.ndarray  # float32, or float16 for large catalogues
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
