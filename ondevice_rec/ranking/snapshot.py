"""The in-memory catalogue a request ranks: vectors, ids, titles, tags and popularity priors, as arrays.

Built from the store's rows; rebuilt when the catalogue version moves; priors reloaded when another
connection writes. Pure data plus the low-rank prefilter view, built on first use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .scoring import Prefilter, build_prefilter


@dataclass
class CatalogSnapshot:
    version: str | None = None
    iids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    item_ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    row: dict[int, int] = field(default_factory=dict)  # iid → row
    pop_raw: dict[str, np.ndarray] = field(default_factory=dict)  # context key → accumulated weight per row
    stats_loaded_at: float = 0.0
    data_version: int = -1
    _prefilter: Prefilter | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        version: str | None,
        iids: np.ndarray,
        item_ids: list[str],
        titles: list[str],
        tags: list[list[str]],
        matrix: np.ndarray,
    ) -> CatalogSnapshot:
        snap = cls(version, iids, item_ids, titles, tags, matrix)
        snap.row = {int(iid): r for r, iid in enumerate(iids)}
        return snap

    def __len__(self) -> int:
        return len(self.iids)

    def set_stats(self, rows: Iterable[tuple[int, str, float]], data_version: int) -> None:
        """Load (iid, context key, weight) priors."""
        raw: dict[str, np.ndarray] = {}
        for iid, ctx, w in rows:
            r = self.row.get(iid)
            if r is None:
                continue
            arr = raw.get(ctx)
            if arr is None:
                arr = raw[ctx] = np.zeros(len(self.iids), dtype=np.float64)
            arr[r] = w
        raw.setdefault("", np.zeros(len(self.iids), dtype=np.float64))
        self.pop_raw = raw
        self.stats_loaded_at = time.monotonic()
        self.data_version = data_version

    def stale_stats(self) -> None:
        """Our own write changed the priors: reload them on the next request."""
        self.data_version = -1
        self.stats_loaded_at = 0.0

    def prior(self, ctx: str) -> np.ndarray | None:
        """Popularity in context ``ctx`` ("" = overall), log-scaled to [0, 1]; None when nothing is known."""
        raw = self.pop_raw.get(ctx)
        if raw is None:
            return None
        top = float(raw.max()) if raw.size else 0.0
        return (np.log1p(raw) / math.log1p(top)).astype(np.float32) if top > 0 else np.zeros_like(raw, np.float32)

    def prefilter(self, rank: int) -> Prefilter:
        """The low-rank view for coarse-to-fine search, built on first use for this snapshot."""
        if self._prefilter is None or self._prefilter.basis.shape[1] != min(rank, self.matrix.shape[1]):
            self._prefilter = build_prefilter(self.matrix, rank)
        return self._prefilter
