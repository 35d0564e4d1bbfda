"""The :class:`Recommender` facade: validates arguments and orchestrates store, encoder and ranking.

It holds no SQL (the store's tables do) and no ranking logic (``ranking.pipeline`` does); it owns the
resources of one open store: the connection, the bundle and its encoder, the in-memory catalogue snapshot,
the lazily loaded LLM re-ranker and the egress gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._version import __version__
from .backends import Encoder, Reranker, open_encoder, open_reranker
from .bundle import Bundle, load_bundle
from .catalog import Item, check_id, to_item
from .errors import ArgumentError, ArgumentTypeError, ItemNotFoundError, StoreError
from .limits import MAX_K, MAX_PROFILE_CHARS, MAX_RERANK_TOP
from .privacy import rights
from .privacy.consent import PERSONALIZATION, ConsentHandle, ConsentLedger
from .ranking import EVENT_KINDS, RankingConfig, context_keys, stat_increments, to_datetime
from .ranking.pipeline import Recommendation, Request, UserSignals, rank
from .ranking.profile import Profile, embed_profile
from .ranking.snapshot import CatalogSnapshot
from .ranking.templates import item_text
from .store import SCHEMA_VERSION, EventRow, Store

__all__ = ["Recommender", "Recommendation", "ConsentHandle", "PERSONALIZATION"]
_log = logging.getLogger("ondevice_rec")


class Recommender:
    """On-device recommender over one SQLite file; use as a context manager.

    ``Recommender(path, bundle=…)`` (or the same arguments to :meth:`open`) opens or creates the store at
    ``path`` with the bundle at ``bundle`` (default: the shipped one), embeds catalogue items and profiles
    that have no vectors for this bundle, and applies ``retention_days`` (events older than that are
    deleted on open and on :meth:`apply_retention`). The object is complete when constructed.
    Thread-safe; several instances (threads or processes) may open the same file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        bundle: str | os.PathLike[str] | None = None,
        config: RankingConfig | None = None,
        threads: int | None = None,
        busy_timeout: float = 10.0,
        retention_days: float | None = None,
        precision: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ArgumentTypeError(f"path must be a str or path, got {type(path).__name__}")
        if retention_days is not None and (
            isinstance(retention_days, bool)
            or not isinstance(retention_days, (int, float))
            or not math.isfinite(retention_days)
            or retention_days <= 0
        ):
            raise ArgumentError("retention_days must be a positive number of days")
        if config is not None and not isinstance(config, RankingConfig):
            raise ArgumentTypeError("config must be a RankingConfig")
        self.config = config or RankingConfig()
        self.retention_days = retention_days
        self.bundle: Bundle = load_bundle(bundle)
        self._threads = threads
        self._encoder: Encoder = open_encoder(self.bundle, threads=threads, precision=precision)
        self._lock = threading.RLock()
        self._snap = CatalogSnapshot()
        self._reranker: Reranker | None = None
        self._egress: Any = None
        self._closed = False
        try:
            self._store = Store(path, busy_timeout=busy_timeout)
        except BaseException:
            self._encoder.close()
            raise
        self._consent = ConsentLedger(self._store, self._increments)
        try:
            self._store.catalog.rebuild_stats_if_flagged(self._increments)
            self._embed_missing()
            if retention_days is not None:
                self.apply_retention()
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], **kwargs: Any) -> Recommender:
        """The same as ``Recommender(path, **kwargs)``: ``bundle=``, ``config=``, ``threads=``,
        ``busy_timeout=``, ``retention_days=``, ``precision=``."""
        return cls(path, **kwargs)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.close()
            self._encoder.close()
            if self._reranker is not None:
                self._reranker.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this Recommender is closed")

    @property
    def space_id(self) -> str:
        """The vector space of this bundle (and precision): the key under which vectors are stored."""
        return self._encoder.space_id

    # --- catalogue ------------------------------------------------------------------------------
    def add_items(self, items: Iterable[Mapping[str, Any]], *, batch_size: int = 64) -> int:
        """Insert or update items (by ``id``) and embed them; all-or-nothing. Returns the number written."""
        self._check_open()
        if isinstance(items, (str, bytes, Mapping)):
            raise ArgumentTypeError("add_items takes an iterable of item mappings")
        parsed: dict[str, Item] = {}
        for raw in items:
            it = to_item(raw)
            parsed[it.id] = it
        return self._write_items(list(parsed.values()), batch_size=batch_size)

    def _write_items(self, items: Sequence[Item], *, batch_size: int = 64) -> int:
        """Embed the items whose text changed since their vector was stored, then write them all."""
        if not items:
            return 0
        texts = [item_text(it.as_dict()) for it in items]
        shas = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:32] for t in texts]
        known = self._store.catalog.text_shas(self.space_id, [it.id for it in items])
        todo = [i for i, it in enumerate(items) if known.get(it.id) != shas[i]]
        vecs: dict[int, np.ndarray] = {}
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            out = self._encoder.item_vectors([items[i].id for i in idx], [texts[i] for i in idx])
            vecs.update(zip(idx, out))
        with self._lock:
            self._store.catalog.upsert(items, shas, vecs, self.space_id)
        return len(items)

    def _embed_missing(self) -> None:
        """First open with a new bundle: embed the catalogue items and profiles that have no vectors for it."""
        self._write_items(self._store.catalog.without_vectors(self.space_id))
        for user_id, text in self._store.profiles.without_vectors(self.space_id):
            self.set_profile(user_id, text)

    def get_item(self, item_id: str) -> dict[str, Any]:
        it = self._store.catalog.get(check_id(item_id, "item_id"))
        if it is None:
            raise ItemNotFoundError(f"unknown item {item_id!r}")
        return it.as_dict()

    def count_items(self) -> int:
        return self._store.catalog.count()

    def _catalog(self) -> CatalogSnapshot:
        """The current snapshot; reloads vectors when the catalogue version moved and priors when another
        connection wrote (checked at most every 2 s)."""
        snap = self._snap
        version = self._store.catalog.version()
        if version != snap.version:
            rows = self._store.catalog.load(self.space_id, self._encoder.dim)
            snap = CatalogSnapshot.build(
                version, rows.iids, rows.item_ids, rows.titles, rows.tags, rows.matrix, rows.popularity
            )
            snap.set_stats(self._store.catalog.stats(), self._store.data_version(), self.config.popularity_min_users)
            self._snap = snap
        elif time.monotonic() - snap.stats_loaded_at > 2.0:
            dv = self._store.data_version()
            if dv != snap.data_version:
                snap.set_stats(self._store.catalog.stats(), dv, self.config.popularity_min_users)
            snap.stats_loaded_at = time.monotonic()
        return snap

    def _increments(self, kind: str, value: float | None, ctx: str) -> list[tuple[str, float]]:
        return stat_increments(kind, value, ctx, self.config)

    # --- events ---------------------------------------------------------------------------------
    def record(
        self,
        user_id: str,
        item_id: str,
        *,
        kind: str = "view",
        value: float | None = None,
        at: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one interaction (``view``, ``click``, ``like``, ``rating`` with ``value=``, ``skip``,
        ``dislike``, ``purchase``) at ``at`` (datetime, ISO string or epoch; default now)."""
        self.record_many(
            [{"user_id": user_id, "item_id": item_id, "kind": kind, "value": value, "at": at, "context": context}]
        )

    def record_many(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Record many interactions in one transaction (all-or-nothing)."""
        self._check_open()
        rows = [_event_row(ev) for ev in events]
        if not rows:
            return 0
        with self._lock:
            n = self._store.events.insert(rows, self._increments)
        self._snap.stale_stats()  # our own write: refresh priors on the next request
        return n

    # --- profiles -------------------------------------------------------------------------------
    def set_profile(self, user_id: str, text: str) -> None:
        """Store a natural-language profile ("I love hard science fiction, no horror"); empty text removes it."""
        self._check_open()
        check_id(user_id, "user_id")
        if not isinstance(text, str):
            raise ArgumentTypeError(f"profile text must be a str, got {type(text).__name__}")
        if len(text) > MAX_PROFILE_CHARS:
            raise ArgumentError(f"profile text is longer than {MAX_PROFILE_CHARS} characters")
        if "\x00" in text:
            raise ArgumentError("profile text must not contain NUL characters")
        if not text.strip():
            with self._lock:
                self._store.profiles.delete(user_id)
            return
        prof = self._embed_profile(text)
        with self._lock:
            self._store.profiles.set(user_id, text, self.space_id, prof.positive, prof.negative, prof.pos, prof.neg)

    def _embed_profile(self, text: str) -> Profile:
        return embed_profile(text, self._encoder)

    def get_profile(self, user_id: str) -> str | None:
        uid = self._store.users.uid(check_id(user_id, "user_id"))
        return self._store.profiles.text(uid) if uid is not None else None

    def _profile(self, uid: int) -> Profile | None:
        """The stored clause vectors for this bundle; a profile written under another bundle by another
        connection since we opened is embedded in memory (a read never writes)."""
        prof = self._store.profiles.vectors(uid, self.space_id, self._encoder.dim)
        if prof is None:
            text = self._store.profiles.text(uid)
            prof = self._embed_profile(text) if text else None
        return prof

    # --- consent --------------------------------------------------------------------------------
    def consent(self, user_id: str) -> ConsentHandle:
        """The consent ledger of ``user_id`` (``grant``, ``revoke``, ``status``, ``history``)."""
        self._check_open()
        return ConsentHandle(self._consent, user_id)

    def purposes(self) -> dict[str, str]:
        """Declared purposes and their descriptions (declare more with ``egress.declare``)."""
        self._check_open()
        return self._consent.purposes()

    # --- recommending ---------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        context: Mapping[str, Any] | None = None,
        diversity: float | None = None,
        exclude_seen: bool = True,
        remote: Callable[[Any], Any] | None = None,
        rerank: str | None = None,
        rerank_top: int = 20,
        explain: str | None = None,
    ) -> list[Recommendation]:
        """Rank the catalogue for ``user_id`` on the device and return the top ``k`` with reasons.

        Without ``personalization`` consent (or for a user we know nothing about) the results are
        non-personalised (popularity, in context) and each reason says so.

        ``rerank="llm"`` re-ranks the top ``rerank_top`` candidates with the bundle's GGUF LLM ranker on
        llama.cpp (one history prefix per request, reused for every candidate); ``explain="llm"`` lets that
        model word the reasons. Both need a bundle exported with ``--formats gguf`` and the ``gguf`` extra.

        ``remote``: an app-supplied function that fetches fresh candidate items from a server. It receives only
        the minimised summary (:meth:`EgressGate.summary`), sent through the egress gate under the purpose
        ``remote-candidates`` (which the app must declare and the user must consent to; otherwise
        :class:`EgressBlocked` is raised). The items it returns are added to the local catalogue and ranked here.
        """
        self._check_open()
        req = self._request(k, context, diversity, rerank, rerank_top, explain)
        check_id(user_id, "user_id")
        reranker = self._llm() if (req.rerank_top is not None or explain) else None
        if remote is not None:
            self._fetch_remote(user_id, remote)
        with self._lock:
            snap = self._catalog()
            return rank(
                snap,
                self._signals(user_id, exclude_seen),
                req,
                encoder=self._encoder,
                cfg=self.config,
                now=time.time(),
                reranker=reranker,
            )

    def _request(
        self,
        k: Any,
        context: Mapping[str, Any] | None,
        diversity: Any,
        rerank: str | None,
        rerank_top: Any,
        explain: str | None,
    ) -> Request:
        if isinstance(k, bool) or not isinstance(k, int):
            raise ArgumentTypeError(f"k must be an int, got {type(k).__name__}")
        if k <= 0 or k > MAX_K:
            raise ArgumentError(f"k must be between 1 and {MAX_K}, got {k}")
        if diversity is None:
            diversity = self.config.default_diversity
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
            raise ArgumentError(f"diversity must be a number between 0 and 1, got {diversity!r}")
        keys = context_keys(context)
        if rerank not in (None, "llm") or explain not in (None, "llm"):
            raise ArgumentError("rerank and explain accept only None or 'llm'")
        if isinstance(rerank_top, bool) or not isinstance(rerank_top, int) or not 1 <= rerank_top <= MAX_RERANK_TOP:
            raise ArgumentError(f"rerank_top must be an int between 1 and {MAX_RERANK_TOP}")
        weight = None
        if rerank:
            spec = self.bundle.manifest.llm_ranker
            weight = spec.fusion_weight if spec is not None else None
            if weight == 0:  # validation at export showed the LLM does not improve this bundle's ranking
                _log.info(
                    "rerank='llm' skipped: re-ranking was disabled at export because it did not improve validation "
                    "NDCG@10 (%s)",
                    spec.fusion_report if spec is not None else {},
                )
                rerank = None
        return Request(k, float(diversity), keys, rerank_top if rerank else None, explain == "llm", weight)

    def _signals(self, user_id: str, exclude_seen: bool) -> UserSignals:
        """What the store holds about the user that this request may use."""
        uid = self._store.users.uid(user_id)
        if uid is None:
            return UserSignals()
        consented = self._store.consents.status(uid).get(PERSONALIZATION, False)
        excluded = self._store.events.seen_items(uid) if exclude_seen else self._store.events.disliked_items(uid)
        if not consented:
            return UserSignals(True, False, excluded)
        events = self._store.events.recent(uid, self.config.history_limit)
        return UserSignals(True, True, excluded, events, self._profile(uid))

    def _fetch_remote(self, user_id: str, fetch: Callable[[Any], Any]) -> None:
        from .privacy.egress import REMOTE_CANDIDATES

        gate = self.egress
        if REMOTE_CANDIDATES not in gate.purposes:
            gate.declare(
                REMOTE_CANDIDATES,
                "Fetch fresh candidate items from the app's server, sending only "
                "coarse interests (top tags and counts)",
            )
        items = gate.send(REMOTE_CANDIDATES, gate.summary(user_id), fetch, user_id=user_id, destination="remote")
        if items:
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
                raise ArgumentTypeError("remote fetch must return an iterable of item mappings")
            self.add_items(items)

    def _llm(self) -> Reranker:
        """The bundle's GGUF LLM re-ranker on llama.cpp (verified and loaded on first use)."""
        if self._reranker is None:
            self._reranker = open_reranker(self.bundle, threads=self._threads)
        return self._reranker

    # --- data-subject rights --------------------------------------------------------------------
    def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything held about ``user_id`` (GDPR Arts. 15 and 20), as a JSON-serialisable dict:
        raw rows, derived data (profile vectors) and the consent and audit history."""
        self._check_open()
        with self._lock:
            return rights.export_user(self._store, user_id, self._consent.status(user_id))

    def forget_user(self, user_id: str) -> dict[str, Any]:
        """Erase everything about ``user_id`` (GDPR Art. 17): rows, derived data and audit entries, zeroed
        in place (secure_delete), then checkpoint and truncate the WAL so no bytes remain. Idempotent: re-running
        it after an interruption completes the erasure. The audit log keeps one entry that an erasure happened,
        with nothing derived from the id."""
        self._check_open()
        with self._lock:
            out = rights.forget_user(self._store, user_id, self._increments)
            self._snap.stale_stats()
        return out

    def apply_retention(self, max_age_days: float | None = None) -> int:
        """Delete events older than ``max_age_days`` (default: the ``retention_days`` the store was opened
        with). Returns how many were deleted."""
        self._check_open()
        days = max_age_days if max_age_days is not None else self.retention_days
        if days is None:
            return 0
        with self._lock:
            n = rights.apply_retention(self._store, days, self._increments)
        if n:
            self._snap.stale_stats()
        return n

    # --- egress ---------------------------------------------------------------------------------
    @property
    def egress(self) -> Any:
        """The :class:`~ondevice_rec.privacy.egress.EgressGate`: the only way data leaves the device."""
        if self._egress is None:
            from .privacy.egress import EgressGate

            self._egress = EgressGate(self._store, self._consent, config=self.config)
        return self._egress

    # --- introspection --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "store": str(self._store.path),
            "schema_version": SCHEMA_VERSION,
            "odrec_version": __version__,
            "bundle": str(self.bundle.path),
            "bundle_name": self.bundle.manifest.name,
            "model_id": self.space_id,
            "items": self.count_items(),
            "users": self._store.users.count(),
            "events": self._store.events.count(),
        }


def _event_row(ev: Any) -> EventRow:
    """Validate one event mapping into the row the store writes."""
    if not isinstance(ev, Mapping):
        raise ArgumentTypeError("each event must be a mapping")
    user_id = check_id(ev.get("user_id"), "user_id")
    item_id = check_id(ev.get("item_id"), "item_id")
    kind = ev.get("kind", "view")
    if kind not in EVENT_KINDS:
        raise ArgumentError(f"kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")
    value = ev.get("value")
    if kind == "rating":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArgumentError("a rating needs a numeric value=")
        if not math.isfinite(value):
            raise ArgumentError("rating value must be finite")
        value = float(value)
    elif value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ArgumentError("value must be a finite number")
        value = float(value)
    at = ev.get("at")
    ts = time.time() if at is None else to_datetime(at, "at").timestamp()
    context = ev.get("context")
    keys = context_keys(context)
    context_json = (
        json.dumps({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in context.items()})
        if (context)
        else None
    )
    return EventRow(user_id, item_id, kind, value, ts, "|".join(keys), context_json)
