"""What an open store keeps in memory about its users, so that a request costs the same for a user with 20
events as for one with 2,698: per user, the newest ``history_limit`` events as columns with their signed
weights, the seen and disliked sets as sorted arrays, impressions, consent and the embedded profile.

An entry is valid while nothing was written since it was read — by this connection or another (the store's
change token) — so no write path can leave a stale entry behind. This process's own ``record`` updates the
recording user's entry in place (and keeps every other entry), instead of reading the history again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..ranking.config import RankingConfig
from ..ranking.pipeline import UserSignals
from ..ranking.profile import Profile
from ..ranking.scoring import NO_EVENTS, Events
from ..ranking.signals import event_weight
from ..store import EventRow, Store
from ..store.schema import PERSONALIZATION
from ..store.statements import Increments

Token = tuple[int, int]


@dataclass
class UserHistory:
    """One user as a request reads them (``uid`` None: not in the store)."""

    uid: int | None
    consented: bool = False
    events: Events = NO_EVENTS  # newest first, ``items`` = store ids, at most history_limit
    seen: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64)
    )  # sorted store ids with an event other than an impression
    disliked: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted store ids with a dislike
    impressions: dict[int, int] = field(default_factory=dict)  # store id → times shown and not chosen
    profile: Profile | None = None


class UserHistories:
    """A bounded (least recently used) map of user id → :class:`UserHistory` over one store."""

    def __init__(
        self,
        store: Store,
        cfg: RankingConfig,
        profile_of: Callable[[int], Profile | None],
        capacity: int = 256,
    ) -> None:
        self._store = store
        self._cfg = cfg
        self._profile_of = profile_of
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Token, UserHistory]] = OrderedDict()

    def get(self, user_id: str) -> UserHistory:
        """The user's history, read from the store only when it changed since the last read."""
        token = self._store.change_token()
        hit = self._entries.get(user_id)
        if hit is not None and hit[0] == token:
            self._entries.move_to_end(user_id)
            return hit[1]
        entry = self._read(user_id)
        self._keep(user_id, token, entry)
        return entry

    def signals(self, user_id: str, exclude_seen: bool) -> UserSignals:
        """What a request may use about the user: nothing personal without consent; the seen set (or only the
        disliked one) is never recommended."""
        h = self.get(user_id)
        if h.uid is None:
            return UserSignals()
        excluded = h.seen if exclude_seen else h.disliked
        if h.profile is not None and h.profile.mentions:  # titles the profile names: seen (or disliked) too
            named = [m.iid for m in h.profile.mentions if exclude_seen or not m.liked]
            excluded = np.union1d(excluded, np.asarray(named, np.int64)) if named else excluded
        if not h.consented:
            return UserSignals(True, False, excluded)
        return UserSignals(True, True, excluded, h.events, h.profile, h.impressions)

    def record(
        self,
        rows: Sequence[EventRow],
        increments: Increments,
        priors: Callable[[list[tuple[int, str, float, int]]], None],
    ) -> int:
        """Write ``rows`` through the store, keep the recording users' entries current, and hand the
        increments the store's priors gained to ``priors`` (so the in-memory copy applies them)."""
        deltas: list[tuple[int, str, float, int]] = []
        with self._store.lock:  # no other thread of this connection writes between the two tokens
            before = self._store.change_token()
            n = self._store.events.insert(rows, increments, deltas=deltas)
            self._recorded(before, rows)
        priors(deltas)
        return n

    def _recorded(self, before: Token, rows: Sequence[EventRow]) -> None:
        """This connection just wrote ``rows`` (and nothing else: call with the store's lock held since
        ``before`` was read) since ``before``: the entries of their users
        take the events in place (or are dropped where that is not exact), every other current entry stays."""
        after = self._store.change_token()
        if after[0] != before[0]:  # another connection wrote meanwhile: nothing can be vouched for
            self._entries.clear()
            return
        by_user: dict[str, list[EventRow]] = {}
        for r in rows:
            by_user.setdefault(r.user_id, []).append(r)
        iids = self._store.catalog.iids(sorted({r.item_id for r in rows}))
        for user_id, (token, entry) in list(self._entries.items()):
            if token != before:
                del self._entries[user_id]
            elif user_id not in by_user:
                self._entries[user_id] = (after, entry)
            else:
                updated = self._with_events(entry, by_user[user_id], iids)
                if updated is None:
                    del self._entries[user_id]
                else:
                    self._entries[user_id] = (after, updated)

    def clear(self) -> None:
        self._entries.clear()

    def forget(self, user_id: str) -> None:
        """Drop what memory holds about ``user_id`` (after an erasure: nothing of them stays in this process)."""
        self._entries.pop(user_id, None)

    # --- internals ------------------------------------------------------------------------------------
    def _read(self, user_id: str) -> UserHistory:
        store = self._store
        with store.read():
            uid = store.users.uid(user_id)
            if uid is None:
                return UserHistory(None)
            consented = store.consents.status(uid).get(PERSONALIZATION, False)
            seen, dislikes, impressions = store.events.items_of(uid)
            disliked = np.unique(np.asarray(dislikes, np.int64))
            if not consented:
                return UserHistory(uid, False, seen=seen, disliked=disliked)
            events = Events.of(store.events.recent(uid, self._cfg.history_limit), self._cfg)
            profile = self._profile_of(uid)
        return UserHistory(uid, True, events, seen, disliked, impressions, profile)

    def _keep(self, user_id: str, token: Token, entry: UserHistory) -> None:
        self._entries[user_id] = (token, entry)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def _with_events(self, entry: UserHistory, rows: Sequence[EventRow], iids: dict[str, int]) -> UserHistory | None:
        """``entry`` with ``rows`` added as the store orders them (newest first, later writes first among equal
        times); None when a row would not go first (an event back-dated before the newest one)."""
        if entry.uid is None:
            return None
        ev, seen, disliked = entry.events, entry.seen, entry.disliked
        impressions = dict(entry.impressions)
        for r in rows:
            iid = iids.get(r.item_id)
            if iid is None or (len(ev) and r.at < float(ev.at[0])):
                return None
            if r.kind == "impression":
                impressions[iid] = impressions.get(iid, 0) + 1
            else:
                seen = np.union1d(seen, [iid])
            if r.kind == "dislike":
                disliked = np.union1d(disliked, [iid])
            if entry.consented:
                ev = Events(
                    np.concatenate([[iid], ev.items]).astype(np.int64),
                    (r.kind, *ev.kinds),
                    np.concatenate([[event_weight(r.kind, r.value, self._cfg)], ev.weights]).astype(np.float32),
                    np.concatenate([[r.at], ev.at]).astype(np.float64),
                    (r.ctx, *ev.ctx),
                ).head(self._cfg.history_limit)
        return replace(
            entry, events=ev, seen=seen, disliked=disliked, impressions=impressions if entry.consented else {}
        )
