"""The catalogue as arrays, as the store hands it to the ranking (its own module: the table and the vector
cache both build it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
