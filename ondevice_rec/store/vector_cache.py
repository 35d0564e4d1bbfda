"""A copy of the catalogue's vectors beside the store file, so a large catalogue opens without a full scan.

Reading 100k vectors row by row out of SQLite takes about a second on 2 cores; reading one flat file takes a
few tens of milliseconds. The file (``<store>-vectors``) holds catalogue data only — store ids, vectors,
tags, popularity, the removed flag — never anything about a user, and is a cache: it is used only when its
header names this store's catalogue epoch (a random token kept in the store, so a re-created database at the
same path never matches an old file), catalogue version, vector space, dimension and element type; any
mismatch, a short or damaged file, or a read error means "load from SQLite", and a writable store then
rewrites it (atomically, by rename). Read-only stores read a valid cache but never write one.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rows import CatalogRows, QuantizedRows, intern_tags, spare_rows

MAGIC = b"ODRECVC1"
ROW_SCALE = "row_scale"
SUFFIX = "-vectors"


@dataclass(frozen=True)
class CacheKey:
    """What a cache file must match to be used."""

    epoch: str
    version: str
    space_id: str
    dim: int
    dtype: str  # "float32", "float16" or "int8" (then the row scales are the extra "row_scale")

    def header(self, n: int, tags: list[list[str]], extras: dict[str, list[int]] | None = None) -> dict[str, object]:
        return {
            "extras": extras or {},
            "epoch": self.epoch,
            "version": self.version,
            "space_id": self.space_id,
            "dim": self.dim,
            "dtype": self.dtype,
            "n": n,
            "tags": tags,
        }


def cache_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def read(path: Path, key: CacheKey) -> CatalogRows | None:
    """The cached rows if ``path`` is a complete cache for ``key``, else None (never raises for a bad file)."""
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                return None
            (hlen,) = struct.unpack("<Q", f.read(8))
            if hlen > 1 << 30:
                return None
            head = json.loads(f.read(hlen).decode("utf-8"))
            if any(head.get(k) != v for k, v in key.header(0, []).items() if k not in ("n", "tags", "extras")):
                return None
            n, dim = int(head["n"]), key.dim
            dt = np.dtype(key.dtype)
            shapes = {str(k): tuple(int(x) for x in v) for k, v in dict(head.get("extras") or {}).items()}
            need = n * (8 + 1 + 8 + 4) + n * dim * dt.itemsize + sum(4 * int(np.prod(v)) for v in shapes.values())
            if os.fstat(f.fileno()).st_size - f.tell() != need:
                return None
            iids = np.fromfile(f, dtype="<i8", count=n)
            removed = np.fromfile(f, dtype=np.uint8, count=n).astype(bool)
            popularity = np.fromfile(f, dtype="<f8", count=n)
            tag_index = np.fromfile(f, dtype="<i4", count=n)
            matrix = np.empty((n + spare_rows(n), dim), dtype=dt.newbyteorder("<"))[:n]  # room to append
            if n and f.readinto(memoryview(matrix).cast("B")) != matrix.nbytes:  # type: ignore[arg-type]
                return None
            extras = {k: np.fromfile(f, dtype="<f4", count=int(np.prod(v))).reshape(v) for k, v in shapes.items()}
    except (OSError, ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
        return None
    distinct = [intern_tags(t) for t in head["tags"]]
    if n and (tag_index.min() < 0 or tag_index.max() >= len(distinct)):
        return None
    if n > 1 and not bool(np.all(iids[1:] > iids[:-1])):
        return None
    vecs: np.ndarray | QuantizedRows = matrix
    if key.dtype == "int8":
        scale = extras.pop(ROW_SCALE, None)
        if scale is None or scale.shape != (n,):
            return None
        buf = matrix.base if isinstance(matrix.base, np.ndarray) else matrix  # with the spare rows
        vecs = QuantizedRows(buf, np.empty(len(buf), np.float32), n)
        vecs.scale[:] = scale
    rows = CatalogRows(iids, [distinct[i] for i in tag_index.tolist()], vecs, popularity, removed)
    rows.extras = {k: v.astype(np.float32, copy=False) for k, v in extras.items()}
    return rows


def write(path: Path, key: CacheKey, rows: CatalogRows, extras: dict[str, np.ndarray] | None = None) -> bool:
    """Write ``rows`` (and float32 ``extras`` derived from them, e.g. the ranking's low-rank view) as the cache
    for ``key``, atomically; False if the directory refused it."""
    extras = dict(extras or {})
    matrix = rows.matrix
    if isinstance(matrix, QuantizedRows):
        extras[ROW_SCALE] = matrix.scale
        matrix = matrix.q
    index: dict[tuple[str, ...], int] = {}
    tag_index = np.fromiter((index.setdefault(t, len(index)) for t in rows.tags), dtype="<i4", count=len(rows.tags))
    shapes = {k: list(v.shape) for k, v in extras.items()}
    head = json.dumps(key.header(len(rows.iids), [list(t) for t in index], shapes)).encode("utf-8")
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<Q", len(head)) + head)
            np.asarray(rows.iids, dtype="<i8").tofile(f)
            np.asarray(rows.removed, dtype=np.uint8).tofile(f)
            np.asarray(rows.popularity, dtype="<f8").tofile(f)
            tag_index.tofile(f)
            np.ascontiguousarray(matrix, dtype=np.dtype(key.dtype).newbyteorder("<")).tofile(f)
            for v in extras.values():
                np.ascontiguousarray(v, dtype="<f4").tofile(f)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False
