"""The profiles of one open store: text in, clause vectors in this bundle's space and the catalogue items the
text names out (stored together, so a request reads them instead of computing them)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..ranking.profile import Profile, read_profile
from ..ranking.titles import NEAR_PREFIX, Candidate, Mention
from ..store import Store

if TYPE_CHECKING:
    from ..backends.base import Encoder
    from .snapshot import CatalogSnapshot


class StoreTitles:
    """The store's catalogue as a :class:`~ondevice_rec.ranking.titles.TitleSource` (indexed lookups: any size)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def by_key(self, keys: Sequence[str]) -> dict[str, list[Candidate]]:
        return self._store.catalog.by_title_key(keys)

    def by_short(self, keys: Sequence[str]) -> dict[str, list[Candidate]]:
        return self._store.catalog.by_title_key(keys, short=True)

    def near(self, key: str, limit: int) -> list[tuple[str, Candidate]]:
        return self._store.catalog.titles_from(key[:NEAR_PREFIX], limit)


class Profiles:
    """Write and read profiles; ``snapshot`` gives the current catalogue (its tags are never read as a title)."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        snapshot: Callable[[], CatalogSnapshot],
        lock: threading.RLock,
    ) -> None:
        self._store = store
        self._encoder = encoder
        self._snapshot = snapshot
        self._lock = lock
        self._titles = StoreTitles(store)
        self._tags: tuple[object, str | None, frozenset[str]] = (None, None, frozenset())

    def _reserved(self) -> frozenset[str]:
        """The catalogue's tags (never a title on their own), kept while the snapshot and its version are."""
        with self._lock:
            snap = self._snapshot()
            if self._tags[0] is not snap or self._tags[1] != snap.version:
                self._tags = (snap, snap.version, frozenset(t for ts in set(snap.tags) for t in ts))
            return self._tags[2]

    def read(self, text: str) -> Profile:
        return read_profile(text, self._encoder, self._titles, self._reserved())

    def set(self, user_id: str, text: str) -> Profile:
        """Store ``text`` (validated by the caller) with its vectors and the items it names; returns it read."""
        prof = self.read(text)
        with self._lock:
            self._store.profiles.set(
                user_id, text, self._encoder.space_id, prof.positive, prof.negative, prof.pos, prof.neg,
                [m.as_row() for m in prof.mentions],
            )  # fmt: skip
        return prof

    def named(self, prof: Profile) -> list[dict[str, object]]:
        """The items ``prof`` names, as the app shows them: item id, title, the words matched, confidence, liked."""
        names = self._store.catalog.names([m.iid for m in prof.mentions])
        return [
            {"item_id": names[m.iid][0], "title": m.title, "said": m.said, "confidence": round(m.confidence, 3),
             "liked": m.liked}
            for m in prof.mentions
            if m.iid in names
        ]  # fmt: skip

    def get(self, uid: int) -> Profile | None:
        """The stored profile in this bundle's space; one written under another bundle by another connection
        since we opened is read in memory (a read never writes)."""
        stored = self._store.profiles.vectors(uid, self._encoder.space_id, self._encoder.dim)
        if stored is None:
            text = self._store.profiles.text(uid)
            return self.read(text) if text else None
        mentions = tuple(Mention.from_row(r) for r in self._store.profiles.mentions(uid))
        return Profile(*stored, mentions=mentions)
