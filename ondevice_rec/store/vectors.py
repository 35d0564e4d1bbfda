"""The blob codec of stored vectors: little-endian float32, row-major (one place, so reader and writer agree)."""

from __future__ import annotations

import numpy as np

DTYPE = np.dtype("<f4")


def encode(v: np.ndarray | None) -> bytes | None:
    """A vector or matrix as bytes (``None`` stays ``None``)."""
    return None if v is None else np.ascontiguousarray(v, dtype=DTYPE).tobytes()


def decode(b: bytes | None, dim: int | None = None) -> np.ndarray | None:
    """Bytes back to a float32 vector, or to a ``(-1, dim)`` matrix when ``dim`` is given."""
    if b is None:
        return None
    v = np.frombuffer(b, dtype=DTYPE)
    return v.reshape(-1, dim) if dim else v
