"""The :class:`Recommender` facade: validates arguments and orchestrates store, encoder and ranking.

It holds no SQL (the store's tables do) and no ranking logic (``ranking.pipeline`` does); it owns the
resources of one open store: the connection, the bundle and its encoder, the in-memory catalogue snapshot,
the lazily loaded LLM re-ranker and the egress gate.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .backends import Encoder, Reranker, open_encoder, open_reranker
from .bundle import Bundle, load_bundle
from .errors import ArgumentTypeError, StoreError
from .inputs.event_rows import EventColumns, to_event_row
from .inputs.files import Source
from .inputs.imports import ImportReport, Progress, import_events
from .inputs.items import CatalogColumns, check_id
from .inputs.requests import build_request, check_open, check_options, check_profile, open_config, page
from .live.catalogue import LiveCatalog
from .live.histories import UserHistories
from .live.profiles import Profiles
from .privacy import rights
from .privacy.consent import PERSONALIZATION, ConsentHandle, ConsentLedger
from .ranking import RankingConfig, stat_increments
from .ranking.pipeline import Recommendation, Request, rank, similar
from .store import SCHEMA_VERSION, Store

if TYPE_CHECKING:
    from .privacy.egress import EgressGate  # imported on first use: it pulls in the masking stack

__all__ = ["Recommender", "Recommendation", "ConsentHandle", "PERSONALIZATION"]
_log = logging.getLogger("ondevice_rec")


class Recommender:
    """On-device recommender over one SQLite file; use as a context manager.

    ``Recommender(path, bundle=…)`` (or the same arguments to :meth:`open`) opens or creates the store at
    ``path`` with the bundle at ``bundle`` (default: the shipped one), embeds catalogue items and profiles
    that have no vectors for this bundle, and applies ``retention_days`` (events older than that are
    deleted on open and on :meth:`apply_retention`). ``read_only`` opens an existing store without writing
    (a read-only file works); ``create=False`` refuses a path where no store exists yet (a mistyped path
    does not silently become a new, empty store). ``context_keys`` declares context keys beyond time and
    device (``["weather", "season"]``). ``durability``: "normal" (a write survives the app crashing) or "full"
    (a power loss too; one fsync per write). ``encryption_key`` (a passphrase, or 32 raw bytes) opens or creates
    the store encrypted with SQLCipher (the ``encryption`` extra). ``modalities`` (``{"image": 512}``) declares
    vectors the app encodes itself, given per item as ``"vectors": {"image": [...]}``. The object is complete
    when constructed.
    Thread-safe; several instances (threads or processes) may open the same file. Logs to
    ``logging.getLogger("ondevice_rec")``.
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
        read_only: bool = False,
        create: bool = True,
        context_keys: Sequence[str] | None = None,
        warm_privacy: bool = False,
        durability: str = "normal",
        encryption_key: str | bytes | None = None,
        modalities: Mapping[str, int] | None = None,
    ) -> None:
        check_open(path, read_only=read_only, create=create, retention_days=retention_days)
        self.retention_days = retention_days
        self.read_only = bool(read_only)
        self.bundle: Bundle = load_bundle(bundle)
        tt = self.bundle.manifest.two_tower
        self.config: RankingConfig = open_config(
            config, context_keys, self.bundle.manifest.kind, tt.cold_start() if tt else None
        )
        self._threads = threads
        self._encoder: Encoder = open_encoder(self.bundle, threads=threads, precision=precision)
        self._lock = threading.RLock()
        self._reranker: Reranker | None = None
        self._closed = False
        try:
            self._store = Store(
                path, busy_timeout=busy_timeout, readonly=self.read_only, durability=durability,
                encryption_key=encryption_key,
            )  # fmt: skip
        except BaseException:
            self._encoder.close()
            raise
        self._consent = ConsentLedger(self._store, self._increments, lambda: self._items.stale_stats())
        self._items = LiveCatalog(self._store, self._encoder, self.config, self._lock)
        self._profiles = Profiles(self._store, self._encoder, self._items.snapshot, self._lock)
        self._histories = UserHistories(self._store, self.config, self._profiles.get)
        try:
            self._modalities = self._items.modalities(modalities, read_only=self.read_only)
            if not self.read_only:
                self._store.catalog.rebuild_stats_if_flagged(self._increments)
                self._items.embed_missing()
                for user_id, text in self._store.profiles.without_vectors(self.space_id):
                    self.set_profile(user_id, text)
                if retention_days is not None:
                    self.apply_retention()
        except BaseException:
            self.close()
            raise
        if warm_privacy:  # the egress gate's models load on a background thread: the first send does not block
            self.egress.warm_up()
        _log.debug("opened %s (bundle %s, read_only=%s)", path, self.bundle.manifest.name, self.read_only)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        bundle: str | os.PathLike[str] | None = None,
        config: RankingConfig | None = None,
        threads: int | None = None,
        busy_timeout: float = 10.0,
        retention_days: float | None = None,
        precision: str | None = None,
        read_only: bool = False,
        create: bool = True,
        context_keys: Sequence[str] | None = None,
        warm_privacy: bool = False,
        durability: str = "normal",
        encryption_key: str | bytes | None = None,
        modalities: Mapping[str, int] | None = None,
    ) -> Recommender:
        """The same as ``Recommender(path, ...)``; ``warm_privacy`` loads the egress gate's PII models on a
        background thread now, so the first send does not block."""
        return cls(
            path,
            bundle=bundle,
            config=config,
            threads=threads,
            busy_timeout=busy_timeout,
            retention_days=retention_days,
            precision=precision,
            read_only=read_only,
            create=create,
            context_keys=context_keys,
            warm_privacy=warm_privacy,
            durability=durability,
            encryption_key=encryption_key,
            modalities=modalities,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._items.save_ann()  # own additions to the ANN index since it was read: the next open starts current
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
        """Insert or update items (by ``id``) and embed those whose text changed; all-or-nothing. A removed
        item added again is restored. Returns the number written."""
        self._check_open()
        return self._items.add(items, batch_size=batch_size)

    def remove_items(self, item_ids: Iterable[str]) -> int:
        """Remove items: never recommended again, kept for histories and exports (adding one restores it)."""
        self._check_open()
        return self._items.remove(item_ids)

    def import_items(
        self,
        path: Source,
        *,
        fmt: str | None = None,
        columns: CatalogColumns | None = None,
        sync: bool = False,
        progress: Progress | None = None,
        on_duplicate: str = "error",
    ) -> ImportReport:
        """Import a CSV/TSV/JSONL catalogue (an Excel byte-order mark is fine; ``columns`` maps your column
        names; other columns are kept in ``meta``). The whole file is validated first: a bad line imports
        nothing and is named. ``sync`` removes the live items the file does not have. An id twice in the file
        is an error, or keeps its ``on_duplicate="first"`` or ``"last"`` row."""
        self._check_open()
        return self._items.import_file(
            path, fmt=fmt, columns=columns, sync=sync, progress=progress, on_duplicate=on_duplicate
        )

    def set_priors(self, popularity: Mapping[str, float]) -> int:
        """Popularity the app ships (item id → a number ≥ 0, any scale): what a new user is shown first, and a
        prior under personal scores. An unknown id raises ItemNotFoundError, writing nothing. Returns the count."""
        self._check_open()
        return self._items.set_popularity(popularity)

    def get_item(self, item_id: str) -> dict[str, Any]:
        """The item as stored (``removed``: when it was removed, if it was)."""
        return self._items.get(item_id)

    def count_items(self, *, removed: bool = False) -> int:
        """Live items in the catalogue (with ``removed``, removed ones too)."""
        return self._items.count(removed=removed)

    def list_items(self, offset: int = 0, limit: int = 100, *, removed: bool = False) -> list[dict[str, Any]]:
        """A page of the catalogue in insertion order (with ``removed``, removed items too, marked)."""
        return self._items.page(offset, limit, removed=removed)

    def list_users(self, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A page of the users the store holds: id, number of events and latest event time."""
        off, lim = page(offset, limit)
        return [{"user_id": u, "events": n, "last_event": at} for u, n, at in self._store.users.page(off, lim)]

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
        ``dislike``, ``purchase``, or ``impression``: shown but not chosen, which lowers the item a little and
        does not count as seen) at ``at`` (datetime, ISO string or epoch; default now)."""
        self.record_many(
            [{"user_id": user_id, "item_id": item_id, "kind": kind, "value": value, "at": at, "context": context}]
        )

    def record_many(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Record many interactions in one transaction (all-or-nothing)."""
        self._check_open()
        if isinstance(events, (str, bytes, Mapping)):
            raise ArgumentTypeError("record_many takes an iterable of event mappings")
        rows = [to_event_row(ev, self.config.context_keys) for ev in events]
        if not rows:
            return 0
        with self._lock:
            n = self._histories.record(rows, self._increments, self._items.add_stats)
        return n

    def import_events(
        self,
        path: Source,
        *,
        fmt: str | None = None,
        columns: EventColumns | None = None,
        batch_size: int = 5000,
        progress: Progress | None = None,
        dedupe: bool = True,
    ) -> ImportReport:
        """Import interactions from a CSV/TSV/JSONL file (columns user, item, kind, value, at, context; map
        yours with ``columns``), validated in full first, written in resumable batches; with ``dedupe``
        a re-import adds only rows the store lacks (see :func:`~ondevice_rec.inputs.imports.import_events`)."""
        self._check_open()
        with self._lock:
            report = import_events(
                path,
                self._store,
                self._increments,
                fmt=fmt,
                columns=columns,
                declared=self.config.context_keys,
                batch_size=batch_size,
                progress=progress,
                dedupe=dedupe,
            )
        self._items.stale_stats()
        _log.info("imported %d events from %s (%.0f rows/s)", report.written, path, report.rows_per_second)
        return report

    # --- profiles -------------------------------------------------------------------------------
    def set_profile(self, user_id: str, text: str) -> list[dict[str, object]]:
        """Store a natural-language profile ("I loved Heat and Fargo, no horror"); empty text removes it. Titles
        it names are matched against the catalogue and count as liked (or disliked) items; returned, each with
        ``item_id``, ``title``, ``said`` (the words matched), ``confidence`` and ``liked``."""
        self._check_open()
        text = check_profile(user_id, text)
        if not text.strip():
            with self._lock:
                self._store.profiles.delete(user_id)
            return []
        return self._profiles.named(self._profiles.set(user_id, text))

    def get_profile(self, user_id: str) -> str | None:
        uid = self._store.users.uid(check_id(user_id, "user_id"))
        return self._store.profiles.text(uid) if uid is not None else None

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
        tags: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        only: Iterable[str] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[Recommendation]:
        """Rank the catalogue for ``user_id`` on the device and return the top ``k`` with reasons (each
        :class:`Recommendation` is a JSON-ready dict with ``reason`` and a structured ``explanation``).

        Filters: ``tags`` (items with any of them), ``exclude`` / ``only`` (item ids), ``where`` (a predicate
        on an item's ``meta``, e.g. ``lambda m: m.get("in_stock")``; run on the best candidates only).

        Without ``personalization`` consent (or for a user we know nothing about) the results are
        non-personalised (popularity, in context) and each reason says so.

        ``rerank="llm"`` re-ranks the top ``rerank_top`` candidates with the bundle's GGUF LLM ranker on
        llama.cpp (one history prefix per request, reused for every candidate); ``explain="llm"`` lets that
        model word the reasons. Both need a bundle exported with ``--formats gguf`` and the ``gguf`` extra.

        ``remote``: an app-supplied function that fetches fresh candidate items from a server. It receives only
        the minimised summary (:meth:`EgressGate.summary`), sent through the egress gate under the purpose
        ``remote-candidates`` (which the app must declare and the user must consent to; otherwise
        :class:`EgressBlocked` is raised). The items it returns are added to the local catalogue and ranked here;
        their text never exempts anything from PII masking (a server cannot plant exemptions).
        """
        self._check_open()
        req = self._request(
            k=k, context=context, diversity=diversity, rerank=rerank, rerank_top=rerank_top, explain=explain,
            tags=tags, exclude=exclude, only=only, where=where,
        )  # fmt: skip
        check_id(user_id, "user_id")
        reranker = self._llm() if (req.rerank_top is not None or explain) else None
        if remote is not None:
            self._items.add(self.egress.fetch_candidates(user_id, remote), remote=True)
        with self._lock:
            return self._rank(user_id, req, exclude_seen, reranker)

    def _rank(self, user_id: str, req: Request, exclude_seen: bool, reranker: Reranker | None) -> list[Recommendation]:
        snap = self._items.snapshot()
        return rank(
            snap, self._histories.signals(user_id, exclude_seen), req, encoder=self._encoder, cfg=self.config,
            names=self._items.names, reranker=reranker, meta_of=self._store.catalog.metas,
            modalities=self._modalities.matrices(snap),
        )  # fmt: skip

    def recommend_many(self, user_ids: Iterable[str], k: int = 10, **options: Any) -> dict[str, list[Recommendation]]:
        """:meth:`recommend` for many users in one call (one validation, one catalogue snapshot):
        user id → recommendations. ``options`` are those of :meth:`recommend` except ``remote``."""
        self._check_open()
        if isinstance(user_ids, (str, bytes, Mapping)):
            raise ArgumentTypeError("recommend_many takes an iterable of user ids")
        users = list(dict.fromkeys(check_id(u, "user_id") for u in user_ids))
        exclude_seen = options.pop("exclude_seen", True)
        check_options(options)
        req = self._request(k=k, **options)
        reranker = self._llm() if (req.rerank_top is not None or req.llm_reasons) else None
        with self._lock:
            return {u: self._rank(u, req, exclude_seen, reranker) for u in users}

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        *,
        diversity: float | None = 0.0,
        tags: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        only: Iterable[str] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[Recommendation]:
        """ "More like this": the ``k`` items closest in meaning to ``item_id`` (never the item itself), with
        the same filters as :meth:`recommend`. Uses nothing about any user, so it needs no consent."""
        self._check_open()
        req = self._request(k=k, diversity=diversity, tags=tags, exclude=exclude, only=only, where=where)
        iid = self._items.iid(item_id)
        with self._lock:
            return similar(
                self._items.snapshot(),
                iid,
                req,
                cfg=self.config,
                names=self._items.names,
                meta_of=self._store.catalog.metas,
            )

    def _request(self, **kw: Any) -> Request:
        return build_request(self.config, self.bundle.manifest.llm_ranker, self._store.catalog.iids, **kw)

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
            self._histories.forget(user_id)
            self._items.stale_stats()
        return out

    def user_overview(self, user_id: str) -> dict[str, Any]:
        """A readable summary of what is held about ``user_id`` (the privacy centre's page): event counts per
        week and kind, the newest events, profile and derived vectors, consents, egress audit. Writes nothing;
        :meth:`export_user` is the complete (and audited) copy."""
        self._check_open()
        return rights.overview(self._store, user_id, {self.space_id: self._encoder.dim})

    def apply_retention(self, max_age_days: float | None = None, *, user_id: str | None = None) -> int:
        """Delete events older than ``max_age_days`` (default: the ``retention_days`` the store was opened
        with), of every user or of ``user_id`` only. Returns how many were deleted."""
        self._check_open()
        days = max_age_days if max_age_days is not None else self.retention_days
        if days is None:
            return 0
        with self._lock:
            n = rights.apply_retention(self._store, days, self._increments, user_id)
        if n:
            self._items.stale_stats()
        return n

    def rekey(self, new_key: str | bytes) -> None:
        """Re-encrypt the (encrypted) store with ``new_key``: every page is rewritten in one transaction."""
        self._check_open()
        self._store.rekey(new_key)

    # --- egress ---------------------------------------------------------------------------------
    @functools.cached_property
    def egress(self) -> EgressGate:
        """The :class:`~ondevice_rec.privacy.egress.EgressGate`: the only way data leaves the device."""
        from .privacy.egress import EgressGate

        return EgressGate(self._store, self._consent, config=self.config)

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
