"""The live catalogue of one open store: validated writes that embed only what changed, soft removal, file
imports, listings, and the in-memory snapshot that ranking reads — updated in place after this process's own
writes (so adding one item to a large catalogue does not reload every vector), reloaded when another
connection changed the catalogue. The facade delegates its catalogue methods here."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..backends import Encoder
from ..errors import ArgumentError, ArgumentTypeError, ItemNotFoundError
from ..inputs.files import Source
from ..inputs.imports import ImportReport, Progress, import_items
from ..inputs.items import CatalogColumns, Item, check_id, to_item
from ..inputs.requests import page
from ..ranking import RankingConfig
from ..ranking.scoring import Prefilter
from ..ranking.templates import item_text
from ..store import Store
from . import ann
from .ann import AnnIndex
from .modalities import Modalities
from .snapshot import CatalogSnapshot

_log = logging.getLogger("ondevice_rec")


def _input_sha(text: str, item: Item, modal: Mapping[str, int]) -> str:
    """What an item's stored vector was computed from: its text and, for an item tower that reads app-encoded
    modalities, its vectors of those modalities (a new image vector re-embeds the item, as a new title does)."""
    h = hashlib.sha256(text.encode("utf-8"))
    for name in modal:
        v = item.vectors.get(name)
        if v is not None:
            h.update(name.encode() + b"\0" + np.ascontiguousarray(v, dtype=np.float32).tobytes())
    return h.hexdigest()[:32]


class LiveCatalog:
    def __init__(self, store: Store, encoder: Encoder, cfg: RankingConfig, lock: threading.RLock) -> None:
        self._store = store
        self._encoder = encoder
        self._cfg = cfg
        self._lock = lock
        self._snap = CatalogSnapshot()
        self.embedded = 0  # items embedded by this process so far (an import reports its own share)
        self._ann: AnnIndex | None = None
        self._warned_ann = False
        self.check: Callable[[Sequence[Item]], None] = lambda items: None  # the modalities' check (set by the owner)

    def modalities(self, declared: Mapping[str, int] | None, *, read_only: bool) -> Modalities:
        """The store's modalities (``declared`` added to them), checked against what the item tower reads; every
        item written is then checked against them (their names and dimensions)."""
        modalities = Modalities(self._store, declared, read_only=read_only, needed=self._encoder.item_modalities)
        self.check = modalities.check
        return modalities

    # --- writes -----------------------------------------------------------------------------------
    def add(self, items: Iterable[Mapping[str, Any]], *, batch_size: int = 64, remote: bool = False) -> int:
        if isinstance(items, (str, bytes, Mapping)):
            raise ArgumentTypeError("add_items takes an iterable of item mappings")
        parsed: dict[str, Item] = {}
        for raw in items:
            it = to_item(raw)
            parsed[it.id] = it
        if remote:  # a server adds candidates; it never rewrites the app's own items
            for item_id in self._store.catalog.app_items(list(parsed)):
                del parsed[item_id]
        return self.write(list(parsed.values()), batch_size=batch_size, remote=remote)

    def write(self, items: Sequence[Item], *, batch_size: int = 64, remote: bool = False) -> int:
        """Embed the items whose text changed since their vector was stored (in batches), then write them all
        in one transaction and apply the change to the snapshot in place when it was current. ``remote``: the
        items came from a server (see ``CatalogTable.upsert``)."""
        if not items:
            return 0
        self.check(items)
        space = self._encoder.space_id
        texts = [item_text(it.as_dict()) for it in items]
        modal = self._encoder.item_modalities
        if modal:  # an item sent again without its vectors keeps the stored ones, in its tower vector too
            stored = self._store.catalog.stored_modality_vectors(
                [it.id for it in items if set(modal) - set(it.vectors)], modal
            )
            for it in items:
                for name, v in stored.get(it.id, {}).items():
                    it.vectors.setdefault(name, v)
        shas = [_input_sha(t, it, modal) for t, it in zip(texts, items, strict=True)]
        known = self._store.catalog.text_shas(space, [it.id for it in items])
        todo = [i for i, it in enumerate(items) if known.get(it.id) != shas[i]]
        self.embedded += len(todo)
        vecs: dict[int, np.ndarray] = {}
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            out = self._encoder.item_vectors(
                [items[i].id for i in idx], [texts[i] for i in idx],
                vectors=[items[i].vectors for i in idx] if modal else None,
            )  # fmt: skip
            vecs.update(zip(idx, out))
        with self._lock:
            iids, before, after = self._store.catalog.upsert(items, shas, vecs, space, remote=remote)
            snap = self._snap
            if snap.version is not None and snap.version == before and snap.upsert(iids, items, vecs):
                self._applied(snap, after)
        return len(items)

    def remove(self, item_ids: Iterable[str]) -> int:
        if isinstance(item_ids, (str, bytes, Mapping)):
            raise ArgumentTypeError("remove_items takes an iterable of item ids")
        ids = [check_id(i, "item_id") for i in item_ids]
        with self._lock:
            gone, before, after = self._store.catalog.remove(ids)
            snap = self._snap
            if gone and snap.version is not None and snap.version == before:
                snap.mark_removed(gone)
                self._applied(snap, after)
        if gone:
            _log.info("removed %d items", len(gone))
        return len(gone)

    def set_popularity(self, values: Mapping[str, float]) -> int:
        """The app's own popularity figures for these items (validated: finite, not negative)."""
        if not isinstance(values, Mapping):
            raise ArgumentTypeError("set_priors takes a mapping of item id → popularity")
        pairs: list[tuple[str, float]] = []
        for item_id, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ArgumentError(f"popularity of {item_id!r} must be a finite number ≥ 0, got {v!r}")
            pairs.append((check_id(item_id, "item_id"), float(v)))
        with self._lock:
            iids, before, after = self._store.catalog.set_popularity(pairs)
            snap = self._snap
            if snap.version is not None and snap.version == before:
                rows = snap.rows_of(iids)
                snap.set_catalogue_popularity(rows[rows >= 0], np.asarray([v for _, v in pairs], np.float64)[rows >= 0])
                self._applied(snap, after)
        return len(pairs)

    def import_file(
        self,
        path: Source,
        *,
        fmt: str | None,
        columns: CatalogColumns | None,
        sync: bool,
        progress: Progress | None,
        on_duplicate: str = "error",
    ) -> ImportReport:
        def drop(keep: set[str]) -> int:
            return self.remove(self._store.catalog.ids_not_in(keep))

        before = self.embedded
        report = import_items(
            path,
            self.write,
            fmt=fmt,
            columns=columns,
            sync=drop if sync else None,
            progress=progress,
            on_duplicate=on_duplicate,
            check=self.check,
        )
        report = replace(report, embedded=self.embedded - before)
        if self._use_ann(self.count()):  # the index is built now, not on the next process's first request
            with self._lock:
                self.snapshot()
        _log.info("imported %d items from %s (%.0f rows/s)", report.written, path, report.rows_per_second)
        return report

    def embed_missing(self) -> None:
        """First open with a new bundle: embed the items that have no vectors for it."""
        self.write(self._store.catalog.without_vectors(self._encoder.space_id, self._encoder.item_modalities))

    # --- reads ------------------------------------------------------------------------------------
    def get(self, item_id: str) -> dict[str, Any]:
        found = self._store.catalog.get(check_id(item_id, "item_id"))
        if found is None:
            raise ItemNotFoundError(f"unknown item {item_id!r}")
        out = found[0].as_dict()
        if found[1] is not None:
            out["removed"] = found[1]
        return out

    def count(self, *, removed: bool = False) -> int:
        return self._store.catalog.count(removed=removed)

    def page(self, offset: int, limit: int, *, removed: bool = False) -> list[dict[str, Any]]:
        off, lim = page(offset, limit)
        return [
            {**it.as_dict(), **({"removed": gone} if gone is not None else {})}
            for it, gone in self._store.catalog.page(off, lim, removed=removed)
        ]

    def iid(self, item_id: str) -> int:
        iid = self._store.catalog.iids([check_id(item_id, "item_id")]).get(item_id)
        if iid is None:
            raise ItemNotFoundError(f"unknown item {item_id!r}")
        return iid

    # --- the snapshot -----------------------------------------------------------------------------
    def snapshot(self) -> CatalogSnapshot:
        """The current snapshot: reloaded when another connection changed the catalogue, priors reloaded when
        another connection wrote (checked at most every 2 s). Call with the lock held."""
        snap = self._snap
        version = self._store.catalog.version()
        if version != snap.version:
            t0, synced_at = time.perf_counter(), time.time()
            rows = self._store.catalog.load(
                self._encoder.space_id,
                self._encoder.dim,
                half_from=self._cfg.half_precision_min_items,
                int8_from=self._cfg.int8_min_items,
                cache_from=self._cfg.vector_cache_min_items,
            )
            snap = CatalogSnapshot.build(version, rows.iids, rows.tags, rows.matrix, rows.popularity, rows.removed)
            if self._use_ann(len(snap)):
                snap.ann = self._sync_ann(snap, synced_at)
            self._prefilter_from_cache(snap, rows)
            snap.set_stats(self._store.catalog.stats(), self._store.data_version(), self._cfg.popularity_min_users)
            self._snap = snap
            _log.debug(
                "loaded %d catalogue vectors (%s) in %.0f ms",
                len(snap),
                rows.matrix.dtype,
                (time.perf_counter() - t0) * 1e3,
            )
        elif time.monotonic() - snap.stats_loaded_at > 2.0:
            dv = self._store.data_version()
            if dv != snap.data_version:
                snap.set_stats(self._store.catalog.stats(), dv, self._cfg.popularity_min_users)
            snap.stats_loaded_at = time.monotonic()
        return snap

    @staticmethod
    def _applied(snap: CatalogSnapshot, version: str | None) -> None:
        """Our own write (now ``version``) was applied to the snapshot, and to its index, in place."""
        snap.version = version
        if snap.ann is not None:
            snap.ann.synced(version)

    def _use_ann(self, n: int) -> bool:
        if not self._cfg.ann_min_items or n < self._cfg.ann_min_items:
            return False
        if not ann.available():
            if not self._warned_ann:
                _log.warning("%d items: without usearch the catalogue is searched coarse-to-fine (%s)", n, ann.INSTALL)
                self._warned_ann = True
            return False
        return True

    def _sync_ann(self, snap: CatalogSnapshot, synced_at: float) -> AnnIndex:
        """The ANN index for this snapshot: the one in memory or the one saved beside the store, brought up to
        date with the items written since it was (found by ``updated_at``); built anew when there is none, it
        belongs to another store or space, or more than a quarter of the catalogue changed. Saved when it
        changed and the store is writable and not encrypted (an encrypted store keeps it in memory only)."""
        cfg, store, space = self._cfg, self._store, self._encoder.space_id
        epoch = store.catalog.epoch()
        index = self._ann
        if index is None or index.header.epoch != epoch or index.header.space_id != space:
            index = (
                None
                if store.encrypted
                else AnnIndex.load(
                    store.path,
                    epoch=epoch,
                    space_id=space,
                    dim=snap.matrix.shape[1],
                    connectivity=cfg.ann_connectivity,
                    expansion_search=cfg.ann_expansion_search,
                )
            )
        if index is not None and index.header.version != snap.version:
            # written by another connection since: found by time (a second of slack for a transaction that
            # began before the index was last synced and committed after)
            iids = np.asarray(store.catalog.updated_since(space, index.header.synced_at - 1.0), np.int64)
            rows = snap.rows_of(iids)
            iids, rows = iids[rows >= 0], rows[rows >= 0]
            changed = index.differs(iids, snap.vectors(rows))
            if changed.sum() > len(snap) // 4:  # a new catalogue, more or less: build it anew
                index = None
            else:  # rows whose popularity or removal changed keep their vectors: nothing to write for them
                index.upsert(iids[changed], snap.vectors(rows[changed]))
                index.synced(snap.version, synced_at)
        if index is None:
            t0 = time.perf_counter()
            index = AnnIndex.build(
                snap.iids,
                snap.matrix,
                epoch=epoch,
                space_id=space,
                version=snap.version,
                synced_at=synced_at,
                connectivity=cfg.ann_connectivity,
                expansion_add=cfg.ann_expansion_add,
                expansion_search=cfg.ann_expansion_search,
            )
            _log.info(
                "built the ANN index of %d items (%d distinct vectors) in %.1f s",
                len(snap),
                len(index),
                time.perf_counter() - t0,
            )
        self._ann = index
        self.save_ann()
        return index

    def save_ann(self) -> None:
        """Write the ANN index beside the store if it changed since it was read or saved (a read-only or
        in-memory store keeps it in memory only)."""
        index, path = self._ann, self._store.path
        if index is None or not index.dirty or self._store.readonly or self._store.encrypted:
            return
        try:
            index.save(path)
        except (OSError, RuntimeError) as e:
            _log.warning("could not save the ANN index beside %s (%s); it is rebuilt on the next open", path, e)

    def _prefilter_from_cache(self, snap: CatalogSnapshot, rows: Any) -> None:
        """Large catalogues: the low-rank prefilter comes with the vector cache, or is built now (the first
        request needs it anyway) and saved with the scanned rows, so the next process starts without either.
        A catalogue searched through its ANN index needs no prefilter."""
        rank = self._cfg.prefilter_rank
        big = bool(self._cfg.prefilter_min_items) and len(snap) >= self._cfg.prefilter_min_items
        big = big and snap.ann is None
        basis, low = rows.extras.get("prefilter_basis"), rows.extras.get("prefilter_low")
        if big and basis is not None and low is not None and basis.shape[1] == min(rank, snap.matrix.shape[1]):
            snap.set_prefilter(Prefilter(basis, low))
        if rows.cache_key is None:
            return
        extras = {}
        if big:
            pf = snap.prefilter(rank)
            extras = {"prefilter_basis": pf.basis, "prefilter_low": pf.low}
        self._store.catalog.save_cache(rows, extras)

    def names(self, iids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """iid → (item id, title) for the few items a result names."""
        return self._store.catalog.names(iids)

    def add_stats(self, rows: list[tuple[int, str, float, int]]) -> None:
        """This process wrote these increments to the priors: apply them to a current snapshot in place (a
        snapshot whose priors are to be reloaded anyway is left alone). Call with the lock held."""
        if self._snap.data_version >= 0:
            self._snap.add_stats(rows, self._cfg.popularity_min_users)

    def stale_stats(self) -> None:
        """Our own write changed the priors: reload them on the next request."""
        self._snap.stale_stats()
