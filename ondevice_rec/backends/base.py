"""The small protocol every ranking backend implements, and the factory that picks one for a bundle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..bundle import Bundle
from ..errors import BundleError


@runtime_checkable
class Ranker(Protocol):
    """Maps item texts and free-text profiles into one vector space where a dot product is relevance.

    Per-candidate work is a dot product against vectors computed once at catalogue-ingest time, so ranking a
    whole catalogue costs one matrix-vector product per request.
    """

    bundle_id: str
    dim: int
    max_length: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Text-encoder vectors (unit norm), one row per text."""
        ...

    def item_vectors(self, item_ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Vectors stored for catalogue items (computed once, at ingest)."""
        ...

    def profile_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of natural-language profile clauses, in the item space."""
        ...

    def user_vector(self, history: np.ndarray, profile: np.ndarray | None) -> np.ndarray | None:
        """A learned user vector from item vectors (oldest first) and a profile vector, or ``None`` when
        the backend has no user model (the facade then uses its recency-weighted centroid)."""
        ...

    def close(self) -> None: ...


def open_ranker(bundle: Bundle, *, threads: int | None = None) -> Ranker:
    """Build the backend that the bundle's manifest asks for."""
    kind = bundle.manifest.get("kind")
    if kind == "text-embedder":
        from .onnx_text import OnnxTextEncoder

        return OnnxTextEncoder(bundle, threads=threads)
    if kind == "two-tower":
        from .two_tower import TwoTowerRanker

        return TwoTowerRanker(bundle, threads=threads)
    raise BundleError(f"bundle {bundle.path}: unsupported kind {kind!r}")
