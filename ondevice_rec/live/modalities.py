"""Modalities the app encodes itself (image, audio, …): declared dimensions, the check of every item's vectors
before it is written, and each modality's vectors aligned with the catalogue snapshot's rows for ranking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..inputs.items import MODALITY_NAME
from ..inputs.limits import MAX_MODALITY_DIM
from ..store import Store
from ..store.rows import Item
from .snapshot import CatalogSnapshot


def check_dims(modalities: Mapping[str, int] | None) -> dict[str, int]:
    """``modalities`` as declared to ``Recommender.open``: lower-case names → dimensions."""
    if modalities is None:
        return {}
    if not isinstance(modalities, Mapping):
        raise ArgumentTypeError("modalities must map a name to a dimension, e.g. {'image': 512}")
    out: dict[str, int] = {}
    for name, dim in modalities.items():
        if not isinstance(name, str) or not MODALITY_NAME.fullmatch(name):
            raise ArgumentError(f"modality {name!r} must be a lower-case name such as 'image'")
        if isinstance(dim, bool) or not isinstance(dim, int) or not 0 < dim <= MAX_MODALITY_DIM:
            raise ArgumentError(f"modality {name!r}: dimension must be an int from 1 to {MAX_MODALITY_DIM}")
        out[name] = dim
    return out


class Modalities:
    """The store's declared modalities and, per catalogue version, their unit vectors in snapshot row order
    (a zero row for an item without one, so it neither gains nor loses from that modality)."""

    def __init__(
        self,
        store: Store,
        declared: Mapping[str, int] | None,
        *,
        read_only: bool,
        needed: Mapping[str, int] | None = None,
    ) -> None:
        self._store = store
        dims = check_dims(declared)
        # a bundle whose item tower reads a modality the store would not hold (at that size) is refused before
        # anything is declared, not fed zeros
        held = {**store.catalog.modalities(), **dims}
        wrong = {n: d for n, d in (needed or {}).items() if held.get(n) != d}
        if wrong:
            flags = " ".join(f"--modality {n}={d}" for n, d in wrong.items())
            raise ArgumentError(
                f"the bundle's item tower reads item vectors {wrong}; this store would hold {held or 'none'} "
                f"(open it with modalities={wrong}; odrec: {flags})"
            )
        self.dims = store.catalog.declare_modalities(dims) if dims and not read_only else store.catalog.modalities()
        missing = {n: d for n, d in dims.items() if self.dims.get(n) != d}
        if missing:
            raise ArgumentError(f"modalities {missing} are not declared in this read-only store")
        self._cache: tuple[object, str | None, dict[str, np.ndarray]] | None = None

    def check(self, items: Sequence[Item]) -> None:
        """Every item's vectors name a declared modality and have its dimension (before anything is written)."""
        for it in items:
            for name, v in it.vectors.items():
                if name not in self.dims:
                    known = ", ".join(self.dims) or "none"
                    raise ArgumentError(
                        f"item {it.id!r}: modality {name!r} is not declared (declared: {known}); open the store "
                        f"with modalities={{{name!r}: {v.size}}}"
                    )
                if v.size != self.dims[name]:
                    raise ArgumentError(
                        f"item {it.id!r}: vectors[{name!r}] has {v.size} numbers, the modality has {self.dims[name]}"
                    )

    def matrices(self, snap: CatalogSnapshot) -> dict[str, np.ndarray]:
        """Each modality's unit vectors aligned with ``snap``'s rows (read once per catalogue version)."""
        if not self.dims or len(snap) == 0:
            return {}
        if self._cache is not None and self._cache[0] is snap and self._cache[1] == snap.version:
            return self._cache[2]
        out: dict[str, np.ndarray] = {}
        for name, dim in self.dims.items():
            iids, vecs = self._store.catalog.modality_vectors(name, dim)
            rows = snap.rows_of(iids)
            keep = rows >= 0
            if not keep.any():
                continue
            m = np.zeros((len(snap), dim), dtype=np.float32)
            v = vecs[keep]
            m[rows[keep]] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            out[name] = m
        self._cache = (snap, snap.version, out)
        return out
