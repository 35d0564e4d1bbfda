"""The :class:`Recommender` facade: one object per open store, composing store, ranker and ranking."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import ranking
from ._version import __version__
from .backends import Ranker, open_ranker
from .bundle import load_bundle
from .catalog import Item, check_id, to_item
from .errors import ItemNotFoundError, StoreError
from .ranking import EVENT_KINDS, RankingConfig
from .store import SCHEMA_VERSION, USER_TABLES, Store
from .templates import item_text, profile_clause_text

PERSONALIZATION = "personalization"
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_PROFILE_CHARS = 10_000
MAX_K = 1000


@dataclass(frozen=True)
class Recommendation:
    """One ranked item with a plain-language reason."""

    item_id: str
    score: float
    reason: str
    title: str = ""
    personalized: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "score": self.score,
            "reason": self.reason,
            "title": self.title,
            "personalized": self.personalized,
        }


class _Catalog:
    """In-memory snapshot of the catalogue's vectors and priors (rebuilt when the catalogue changes)."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.iids = np.zeros(0, dtype=np.int64)
        self.item_ids: list[str] = []
        self.titles: list[str] = []
        self.tags: list[list[str]] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.row: dict[int, int] = {}
        self.pop_raw: dict[str, np.ndarray] = {}
        self.stats_loaded_at = 0.0
        self.data_version = -1
        self._prefilter: ranking.Prefilter | None = None

    def prefilter(self, rank: int) -> ranking.Prefilter:
        """The low-rank view for coarse-to-fine search, built on first use for this catalogue snapshot."""
        if self._prefilter is None or self._prefilter.basis.shape[1] != min(rank, self.matrix.shape[1]):
            self._prefilter = ranking.build_prefilter(self.matrix, rank)
        return self._prefilter

    def prior(self, ctx: str) -> np.ndarray | None:
        raw = self.pop_raw.get(ctx)
        if raw is None:
            return None
        top = float(raw.max()) if raw.size else 0.0
        return (np.log1p(raw) / math.log1p(top)).astype(np.float32) if top > 0 else np.zeros_like(raw)


class ConsentHandle:
    """Consent ledger of one user: append-only history, latest decision per purpose wins."""

    def __init__(self, rec: Recommender, user_id: str) -> None:
        self._rec = rec
        self.user_id = check_id(user_id, "user_id")

    def grant(self, purpose: str, *, source: str = "api") -> None:
        self._rec._set_consent(self.user_id, purpose, True, source)

    def revoke(self, purpose: str, *, source: str = "api") -> None:
        self._rec._set_consent(self.user_id, purpose, False, source)

    def status(self) -> dict[str, bool]:
        return self._rec._consent_status(self.user_id)

    def granted(self, purpose: str) -> bool:
        return self.status().get(_check_purpose(purpose), False)

    def history(self) -> list[dict[str, Any]]:
        uid = self._rec._store.uid(self.user_id)
        if uid is None:
            return []
        rows = self._rec._store.query(
            "SELECT purpose, granted, at, source FROM consents WHERE uid=? ORDER BY cid", (uid,)
        )
        return [{"purpose": p, "granted": bool(g), "at": a, "source": s} for p, g, a, s in rows]


def _check_purpose(purpose: Any) -> str:
    if not isinstance(purpose, str):
        raise TypeError(f"purpose must be a str, got {type(purpose).__name__}")
    if not _PURPOSE_RE.match(purpose):
        raise ValueError(f"purpose {purpose[:40]!r} must be a lowercase identifier such as 'personalization'")
    return purpose


def _vec_bytes(v: np.ndarray | None) -> bytes | None:
    return None if v is None else np.asarray(v, dtype=np.float32).tobytes()


def _vec(b: bytes | None) -> np.ndarray | None:
    return None if b is None else np.frombuffer(b, dtype=np.float32)


class Recommender:
    """On-device recommender over one SQLite file. Open with :meth:`open`; use as a context manager.

    Thread-safe; several instances (threads or processes) may open the same file.
    """

    def __init__(
        self, store: Store, ranker: Ranker, *, config: RankingConfig, bundle_path: Path, bundle_manifest: dict[str, Any]
    ) -> None:
        self._store = store
        self._ranker = ranker
        self.config = config
        self.bundle_path = bundle_path
        self.bundle_manifest = bundle_manifest
        self._model_id = ranker.bundle_id
        self._lock = threading.RLock()
        self._cat = _Catalog()
        self._closed = False
        self._egress: Any = None
        self._bundle: Any = None  # set by open(): lazily verified files (the GGUF LLM ranker)
        self._llm: Any = None

    # --- lifecycle ------------------------------------------------------------------------------
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
    ) -> Recommender:
        """Open (or create) the store at ``path`` with the bundle at ``bundle`` (default: the shipped one).

        ``retention_days`` deletes events older than that on open and on :meth:`apply_retention`.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path, got {type(path).__name__}")
        if retention_days is not None and (
            not isinstance(retention_days, (int, float)) or not math.isfinite(retention_days) or retention_days <= 0
        ):
            raise ValueError("retention_days must be a positive number of days")
        b = load_bundle(bundle)
        ranker = open_ranker(b, threads=threads)
        store = Store(path, busy_timeout=busy_timeout)
        rec = cls(store, ranker, config=config or RankingConfig(), bundle_path=b.path, bundle_manifest=b.manifest)
        rec._bundle = b
        rec.retention_days = retention_days
        try:
            rec._ensure_vectors()
            if retention_days is not None:
                rec.apply_retention()
        except BaseException:
            rec.close()
            raise
        return rec

    retention_days: float | None = None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.close()
            self._ranker.close()
            if self._llm is not None:
                self._llm.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this Recommender is closed")

    # --- catalogue ------------------------------------------------------------------------------
    def add_items(self, items: Iterable[Mapping[str, Any]], *, batch_size: int = 64) -> int:
        """Insert or update items (by ``id``) and embed them; all-or-nothing. Returns the number written."""
        self._check_open()
        if isinstance(items, (str, bytes, Mapping)):
            raise TypeError("add_items takes an iterable of item mappings")
        parsed: dict[str, Item] = {}
        for raw in items:
            it = to_item(raw)
            parsed[it.id] = it
        return self._write_items(list(parsed.values()), batch_size=batch_size)

    def _write_items(self, items: Sequence[Item], *, batch_size: int = 64) -> int:
        if not items:
            return 0
        texts = [item_text(it.as_dict()) for it in items]
        shas = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:32] for t in texts]
        known = {}
        ids = [it.id for it in items]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = ",".join("?" * len(chunk))
            known.update(
                {
                    r[0]: r[1]
                    for r in self._store.query(
                        "SELECT i.item_id, v.text_sha FROM items i JOIN item_vectors v "
                        f"ON v.iid=i.iid AND v.model_id=? WHERE i.item_id IN ({q})",
                        (self._model_id, *chunk),
                    )
                }
            )
        todo = [i for i, it in enumerate(items) if known.get(it.id) != shas[i]]
        vecs: dict[int, np.ndarray] = {}
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            out = self._ranker.item_vectors([items[i].id for i in idx], [texts[i] for i in idx])
            vecs.update(zip(idx, out))
        now = time.time()
        with self._lock, self._store.write() as conn:
            for i, it in enumerate(items):
                conn.execute(
                    "INSERT INTO items(item_id, title, text, tags, meta, added_at, updated_at) "
                    "VALUES(?,?,?,?,?,?,?) ON CONFLICT(item_id) DO UPDATE SET title=excluded.title, "
                    "text=excluded.text, tags=excluded.tags, meta=excluded.meta, updated_at=excluded.updated_at",
                    (it.id, it.title, it.text, json.dumps(list(it.tags)), json.dumps(it.meta), now, now),
                )
                if i in vecs:
                    iid = conn.execute("SELECT iid FROM items WHERE item_id=?", (it.id,)).fetchone()[0]
                    conn.execute(
                        "INSERT INTO item_vectors(iid, model_id, text_sha, vector) VALUES(?,?,?,?) "
                        "ON CONFLICT(iid, model_id) DO UPDATE SET text_sha=excluded.text_sha, vector=excluded.vector",
                        (iid, self._model_id, shas[i], _vec_bytes(vecs[i])),
                    )
            self._store.bump(conn, "catalog_version")
        return len(items)

    def _ensure_vectors(self) -> None:
        """Embed catalogue items that have no vector for this bundle (first open with a new bundle)."""
        rows = self._store.query(
            "SELECT i.item_id, i.title, i.text, i.tags, i.meta FROM items i LEFT JOIN item_vectors v "
            "ON v.iid=i.iid AND v.model_id=? WHERE v.iid IS NULL",
            (self._model_id,),
        )
        if rows:
            self._write_items([Item(r[0], r[1], r[2], tuple(json.loads(r[3])), json.loads(r[4])) for r in rows])

    def get_item(self, item_id: str) -> dict[str, Any]:
        check_id(item_id, "item_id")
        rows = self._store.query("SELECT item_id, title, text, tags, meta FROM items WHERE item_id=?", (item_id,))
        if not rows:
            raise ItemNotFoundError(f"unknown item {item_id!r}")
        r = rows[0]
        return {"id": r[0], "title": r[1], "text": r[2], "tags": json.loads(r[3]), "meta": json.loads(r[4])}

    def count_items(self) -> int:
        return int(self._store.query("SELECT count(*) FROM items")[0][0])

    def _catalog(self) -> _Catalog:
        """Current in-memory catalogue; reloads vectors when the catalogue version moved and priors when
        another connection wrote (checked at most every 2 s)."""
        cat = self._cat
        version = self._store.meta("catalog_version", "0")
        if version != cat.version:
            new = _Catalog()
            new.version = version
            dim = self._ranker.dim
            with self._store.read() as conn:  # streamed into preallocated arrays: no second copy of the vectors
                n = conn.execute("SELECT count(*) FROM item_vectors WHERE model_id=?", (self._model_id,)).fetchone()[0]
                iids = np.empty(n, dtype=np.int64)
                matrix = np.empty((n, dim), dtype=np.float32)
                i = 0
                for iid, item_id, title, tags, vector in conn.execute(
                    "SELECT i.iid, i.item_id, i.title, i.tags, v.vector FROM items i JOIN item_vectors v "
                    "ON v.iid=i.iid AND v.model_id=? ORDER BY i.iid",
                    (self._model_id,),
                ):
                    iids[i] = iid
                    matrix[i] = np.frombuffer(vector, dtype=np.float32)
                    new.item_ids.append(item_id)
                    new.titles.append(title)
                    new.tags.append(json.loads(tags))
                    i += 1
            new.iids, new.matrix = iids[:i], matrix[:i]
            new.row = {int(iid): r for r, iid in enumerate(new.iids)}
            self._cat = cat = new
            self._load_stats(cat)
        elif time.monotonic() - cat.stats_loaded_at > 2.0:
            dv = self._store.query("PRAGMA data_version")[0][0]
            if dv != cat.data_version:
                self._load_stats(cat)
            cat.stats_loaded_at = time.monotonic()
        return cat

    def _load_stats(self, cat: _Catalog) -> None:
        raw: dict[str, np.ndarray] = {}
        for iid, ctx, w in self._store.query("SELECT iid, ctx, weight FROM item_stats"):
            r = cat.row.get(iid)
            if r is None:
                continue
            arr = raw.get(ctx)
            if arr is None:
                arr = raw[ctx] = np.zeros(len(cat.iids), dtype=np.float64)
            arr[r] = w
        raw.setdefault("", np.zeros(len(cat.iids), dtype=np.float64))
        cat.pop_raw = raw
        cat.stats_loaded_at = time.monotonic()
        cat.data_version = self._store.query("PRAGMA data_version")[0][0]

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
        rows = []
        for ev in events:
            if not isinstance(ev, Mapping):
                raise TypeError("each event must be a mapping")
            user_id = check_id(ev.get("user_id"), "user_id")
            item_id = check_id(ev.get("item_id"), "item_id")
            kind = ev.get("kind", "view")
            if kind not in EVENT_KINDS:
                raise ValueError(f"kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")
            value = ev.get("value")
            if kind == "rating":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError("a rating needs a numeric value=")
                if not math.isfinite(value):
                    raise ValueError("rating value must be finite")
                value = float(value)
            elif value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError("value must be a finite number")
                value = float(value)
            at = ev.get("at")
            ts = time.time() if at is None else ranking.to_datetime(at, "at").timestamp()
            context = ev.get("context")
            ctx_keys = ranking.context_keys(context)
            rows.append(
                (
                    user_id,
                    item_id,
                    kind,
                    value,
                    ts,
                    "|".join(ctx_keys),
                    json.dumps(_jsonable_context(context)) if context else None,
                )
            )
        if not rows:
            return 0
        with self._lock, self._store.write() as conn:
            uids: dict[str, int] = {}
            for user_id, item_id, kind, value, ts, ctx, context_json in rows:
                r = conn.execute("SELECT iid FROM items WHERE item_id=?", (item_id,)).fetchone()
                if r is None:
                    raise ItemNotFoundError(f"unknown item {item_id!r}: add it with add_items() first")
                iid = r[0]
                uid = uids.get(user_id) or uids.setdefault(user_id, self._store.ensure_uid(conn, user_id))
                conn.execute(
                    "INSERT INTO events(uid, iid, kind, value, at, ctx, context) VALUES(?,?,?,?,?,?,?)",
                    (uid, iid, kind, value, ts, ctx, context_json),
                )
                w = max(0.0, ranking.event_weight(kind, value, self.config))
                if w > 0:
                    for key in ("", *ctx.split("|")) if ctx else ("",):
                        conn.execute(
                            "INSERT INTO item_stats(iid, ctx, weight) VALUES(?,?,?) ON CONFLICT(iid, ctx) "
                            "DO UPDATE SET weight = weight + excluded.weight",
                            (iid, key, w),
                        )
        self._cat.data_version = -1  # our own write: refresh priors on the next request
        self._cat.stats_loaded_at = 0.0
        return len(rows)

    # --- profiles -------------------------------------------------------------------------------
    def set_profile(self, user_id: str, text: str) -> None:
        """Store a natural-language profile ("I love hard science fiction, no horror"); empty text removes it."""
        self._check_open()
        check_id(user_id, "user_id")
        if not isinstance(text, str):
            raise TypeError(f"profile text must be a str, got {type(text).__name__}")
        if len(text) > MAX_PROFILE_CHARS:
            raise ValueError(f"profile text is longer than {MAX_PROFILE_CHARS} characters")
        if "\x00" in text:
            raise ValueError("profile text must not contain NUL characters")
        pos_c, neg_c = ranking.split_profile(text)
        pos_c = [c for c in (profile_clause_text(c) for c in pos_c) if c]
        neg_c = [c for c in (profile_clause_text(c) for c in neg_c) if c]
        pos_v = self._ranker.profile_vectors(pos_c) if pos_c else None
        neg_v = self._ranker.profile_vectors(neg_c) if neg_c else None
        with self._lock, self._store.write() as conn:
            uid = self._store.ensure_uid(conn, user_id)
            if not text.strip():
                conn.execute("DELETE FROM profiles WHERE uid=?", (uid,))
                conn.execute("DELETE FROM profile_vectors WHERE uid=?", (uid,))
                return
            conn.execute(
                "INSERT INTO profiles(uid, text, updated_at) VALUES(?,?,?) ON CONFLICT(uid) DO UPDATE "
                "SET text=excluded.text, updated_at=excluded.updated_at",
                (uid, text, time.time()),
            )
            conn.execute("DELETE FROM profile_vectors WHERE uid=?", (uid,))
            conn.execute(
                "INSERT INTO profile_vectors(uid, model_id, clauses, pos, neg) VALUES(?,?,?,?,?)",
                (
                    uid,
                    self._model_id,
                    json.dumps({"positive": pos_c, "negative": neg_c}),
                    _vec_bytes(pos_v) if pos_v is not None else None,
                    _vec_bytes(neg_v) if neg_v is not None else None,
                ),
            )

    def get_profile(self, user_id: str) -> str | None:
        uid = self._store.uid(check_id(user_id, "user_id"))
        rows = self._store.query("SELECT text FROM profiles WHERE uid=?", (uid,)) if uid is not None else []
        return rows[0][0] if rows else None

    def _profile_vectors(self, uid: int) -> tuple[np.ndarray | None, np.ndarray | None, list[str], np.ndarray | None]:
        rows = self._store.query(
            "SELECT clauses, pos, neg FROM profile_vectors WHERE uid=? AND model_id=?", (uid, self._model_id)
        )
        if not rows:
            text = self._store.query("SELECT text FROM profiles WHERE uid=?", (uid,))
            if not text:
                return None, None, [], None
            # profile written under another bundle: re-embed it for this one
            user_id = self._store.query("SELECT user_id FROM users WHERE uid=?", (uid,))[0][0]
            self.set_profile(user_id, text[0][0])
            return self._profile_vectors(uid)
        clauses = json.loads(rows[0][0])
        dim = self._ranker.dim
        pos_m = _vec(rows[0][1])
        neg_m = _vec(rows[0][2])
        pos_m = pos_m.reshape(-1, dim) if pos_m is not None else None
        neg_m = neg_m.reshape(-1, dim) if neg_m is not None else None
        pos = ranking._unit(pos_m.sum(axis=0)) if pos_m is not None else None
        neg = ranking._unit(neg_m.sum(axis=0)) if neg_m is not None else None
        return pos, neg, clauses["positive"], pos_m

    # --- consent --------------------------------------------------------------------------------
    def consent(self, user_id: str) -> ConsentHandle:
        """The consent ledger of ``user_id`` (``grant``, ``revoke``, ``status``, ``history``)."""
        self._check_open()
        return ConsentHandle(self, user_id)

    def _set_consent(self, user_id: str, purpose: str, granted: bool, source: str) -> None:
        _check_purpose(purpose)
        if not isinstance(source, str) or len(source) > 64:
            raise ValueError("source must be a short string")
        with self._lock, self._store.write() as conn:
            uid = self._store.ensure_uid(conn, user_id)
            conn.execute(
                "INSERT INTO consents(uid, purpose, granted, at, source) VALUES(?,?,?,?,?)",
                (uid, purpose, int(granted), time.time(), source),
            )
            self._store.audit(
                conn,
                "consent.grant" if granted else "consent.revoke",
                uid=uid,
                purpose=purpose,
                details={"source": source},
            )

    def _consent_status(self, user_id: str) -> dict[str, bool]:
        uid = self._store.uid(check_id(user_id, "user_id"))
        if uid is None:
            return {}
        rows = self._store.query(
            "SELECT purpose, granted FROM consents WHERE cid IN (SELECT max(cid) FROM consents WHERE uid=? "
            "GROUP BY purpose)",
            (uid,),
        )
        return {p: bool(g) for p, g in rows}

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
        check_id(user_id, "user_id")
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if k <= 0 or k > MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        if diversity is None:
            diversity = self.config.default_diversity
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be a number between 0 and 1, got {diversity!r}")
        req_ctx = ranking.context_keys(context)
        cfg = self.config
        if rerank not in (None, "llm") or explain not in (None, "llm"):
            raise ValueError("rerank and explain accept only None or 'llm'")
        if isinstance(rerank_top, bool) or not isinstance(rerank_top, int) or not 1 <= rerank_top <= 100:
            raise ValueError("rerank_top must be an int between 1 and 100")
        llm = self._llm_ranker() if (rerank or explain) else None
        if remote is not None:
            self._fetch_remote(user_id, remote)
        with self._lock:
            cat = self._catalog()
            n = len(cat.iids)
            if n == 0:
                return []
            uid = self._store.uid(user_id)
            consented = uid is not None and self._consent_status(user_id).get(PERSONALIZATION, False)
            allowed = np.ones(n, dtype=bool)
            state = ranking.UserState(None, None, np.zeros(0, np.int64), np.zeros(0, np.float32), [], [], None)
            if uid is not None:
                # skip-scan over the (uid, iid) index: one seek per distinct item, however many events
                seen_sql = (
                    "WITH RECURSIVE s(iid) AS (SELECT min(iid) FROM events WHERE uid=?1 UNION ALL "
                    "SELECT (SELECT min(iid) FROM events WHERE uid=?1 AND iid > s.iid) FROM s WHERE s.iid IS NOT NULL) "
                    "SELECT iid FROM s WHERE iid IS NOT NULL"
                    if exclude_seen
                    else "SELECT DISTINCT iid FROM events WHERE uid=? AND kind='dislike'"
                )
                for (iid,) in self._store.query(seen_sql, (uid,)):
                    r = cat.row.get(iid)
                    if r is not None:
                        allowed[r] = False
            if consented:
                assert uid is not None
                evs = self._store.query(
                    "SELECT iid, kind, value, at, ctx FROM events WHERE uid=? ORDER BY at DESC, eid DESC LIMIT ?",
                    (uid, cfg.history_limit),
                )
                events = [(cat.row[e[0]], e[1], e[2], e[3], e[4]) for e in evs if e[0] in cat.row]
                p_pos, p_neg, clauses, clause_vecs = self._profile_vectors(uid)
                state = ranking.build_user_state(
                    events,
                    cat.matrix,
                    profile_pos=p_pos,
                    profile_neg=p_neg,
                    clauses=clauses,
                    clause_vecs=clause_vecs,
                    now=time.time(),
                    request_ctx=req_ctx,
                    cfg=cfg,
                )
                learned = self._learned_user_vector(events, cat.matrix, clause_vecs)
                if learned is not None:
                    state.pos = learned
            pop = cat.prior("")
            assert pop is not None
            ctx_pop = None
            if req_ctx:
                parts = [p for p in (cat.prior(c) for c in req_ctx) if p is not None]
                ctx_pop = np.mean(parts, axis=0).astype(np.float32) if parts else np.zeros(n, np.float32)
            if cfg.prefilter_min_items and n >= cfg.prefilter_min_items and state.pos is not None:
                scores, allowed = ranking.score_items_prefiltered(
                    state, cat.matrix, cat.prefilter(cfg.prefilter_rank), pop, ctx_pop, allowed, cfg
                )
            else:
                scores = ranking.score_items(state, cat.matrix, pop, ctx_pop, cfg)
            rows = ranking.select_mmr(
                scores, cat.matrix, allowed, max(k, rerank_top) if rerank else k, float(diversity), cfg.candidate_pool
            )
            history_titles = [cat.titles[r] for r in reversed(state.history_rows.tolist())]
            if llm is not None and rerank and rows:
                from .templates import ranker_prefix, ranker_suffix

                margins = llm.score(ranker_prefix(history_titles), [ranker_suffix(cat.titles[r]) for r in rows])
                order = np.argsort(-margins, kind="stable")
                rows = [rows[i] for i in order][:k]
                scores = scores.copy()
                for i, r in zip(order, rows):
                    scores[r] = float(margins[i])
            out = []
            for r in rows:
                if state.personalised and llm is not None and explain:
                    from .templates import explain_prompt

                    reason = llm.generate(explain_prompt(history_titles, cat.titles[r]))[:160] or "Recommended for you"
                    out.append(Recommendation(cat.item_ids[r], float(scores[r]), reason, cat.titles[r], True))
                elif state.personalised:
                    reason = ranking.explain(r, state, cat.matrix, cat.titles, cat.tags, ctx_pop, req_ctx, cfg)
                    out.append(Recommendation(cat.item_ids[r], float(scores[r]), reason, cat.titles[r], True))
                else:
                    base = (
                        ("Popular " + ranking.describe_context(req_ctx))
                        if ctx_pop is not None and ctx_pop[r] > 0
                        else "Popular right now"
                    )
                    why = (
                        "not personalised: personalization consent not given"
                        if uid is not None and not consented
                        else "not personalised: no history or profile yet"
                    )
                    out.append(
                        Recommendation(cat.item_ids[r], float(scores[r]), f"{base} ({why})", cat.titles[r], False)
                    )
            return out

    # --- data-subject rights --------------------------------------------------------------------
    def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything held about ``user_id`` (GDPR Arts. 15 and 20), as a JSON-serialisable dict:
        raw rows, derived data (profile vectors) and the consent and audit history."""
        self._check_open()
        check_id(user_id, "user_id")
        with self._lock, self._store.write() as conn:
            row = conn.execute("SELECT uid, created_at FROM users WHERE user_id=?", (user_id,)).fetchone()
            out: dict[str, Any] = {
                "format": "ondevice-rec/user-export",
                "format_version": 1,
                "odrec_version": __version__,
                "schema_version": SCHEMA_VERSION,
                "user_id": user_id,
                "exported_at": time.time(),
                "found": row is not None,
            }
            out.update({t: [] for t in USER_TABLES})
            out["user"] = None
            out["consent_status"] = {}
            if row is None:
                return out
            uid = row[0]
            self._store.audit(conn, "export", uid=uid, details={"tables": list(USER_TABLES)})
            out["user"] = {"user_id": user_id, "created_at": row[1]}
            for table in USER_TABLES:
                cur = conn.execute(f"SELECT * FROM {table} WHERE uid=?", (uid,))
                cols = [d[0] for d in cur.description]
                out[table] = [_export_row(table, dict(zip(cols, r)), conn) for r in cur.fetchall()]
        out["consent_status"] = self._consent_status(user_id)
        return out

    def forget_user(self, user_id: str) -> dict[str, Any]:
        """Erase everything about ``user_id`` (GDPR Art. 17): rows, derived data and audit entries, zeroed
        in place (secure_delete), then checkpoint and truncate the WAL so no bytes remain. Idempotent: re-running
        it after an interruption completes the erasure. The audit log keeps one pseudonymous entry."""
        self._check_open()
        check_id(user_id, "user_id")
        counts: dict[str, int] = {}
        with self._lock:
            with self._store.write() as conn:
                row = conn.execute("SELECT uid FROM users WHERE user_id=?", (user_id,)).fetchone()
                if row is not None:
                    uid = row[0]
                    touched = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events WHERE uid=?", (uid,))]
                    for table in USER_TABLES:
                        counts[table] = conn.execute(f"DELETE FROM {table} WHERE uid=?", (uid,)).rowcount
                    conn.execute("DELETE FROM users WHERE uid=?", (uid,))
                    self._recompute_stats(conn, touched)
                    self._store.audit(
                        conn, "erasure", subject=self._pseudonym(user_id), details={"rows_deleted": counts}
                    )
            self._store.scrub()
            self._cat.data_version = -1
            self._cat.stats_loaded_at = 0.0
        return {"user_found": bool(counts), "rows_deleted": counts}

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
                raise TypeError("remote fetch must return an iterable of item mappings")
            self.add_items(items)

    def _llm_ranker(self) -> Any:
        """The bundle's GGUF LLM ranker on llama.cpp (verified and loaded on first use)."""
        if self._llm is None:
            spec = self.bundle_manifest.get("llm_ranker")
            if not spec:
                from .errors import BundleError

                raise BundleError(f"bundle {self.bundle_path} has no LLM ranker: export it with --formats gguf")
            from .backends.llm_rerank import LlamaRanker

            self._llm = LlamaRanker(str(self._bundle.verified_path(spec["file"])))
        return self._llm

    def _learned_user_vector(
        self,
        events: Sequence[tuple[int, str, float | None, float, str]],
        matrix: np.ndarray,
        clause_vecs: np.ndarray | None,
    ) -> np.ndarray | None:
        """For bundles with a user tower: its vector from the positive events (oldest first) and profile."""
        rows = [e[0] for e in reversed(events) if ranking.event_weight(e[1], e[2], self.config) > 0]
        profile = clause_vecs.mean(axis=0) if clause_vecs is not None and len(clause_vecs) else None
        u = self._ranker.user_vector(matrix[rows] if rows else np.zeros((0, matrix.shape[1]), np.float32), profile)
        if u is None:
            return None
        n = float(np.linalg.norm(u))
        return (u / n).astype(np.float32) if n > 1e-9 else None

    def _pseudonym(self, user_id: str) -> str:
        key = bytes.fromhex(self._store.meta("audit_key") or "")
        return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def _recompute_stats(self, conn: Any, iids: Sequence[int]) -> None:
        """Rebuild the popularity priors of ``iids`` from the events that remain (derived data of erased
        or expired events must go too)."""
        for iid in iids:
            conn.execute("DELETE FROM item_stats WHERE iid=?", (iid,))
            acc: dict[str, float] = {}
            for kind, value, ctx in conn.execute("SELECT kind, value, ctx FROM events WHERE iid=?", (iid,)):
                w = max(0.0, ranking.event_weight(kind, value, self.config))
                if w > 0:
                    for key in ("", *ctx.split("|")) if ctx else ("",):
                        acc[key] = acc.get(key, 0.0) + w
            conn.executemany(
                "INSERT INTO item_stats(iid, ctx, weight) VALUES(?,?,?)", [(iid, c, w) for c, w in acc.items()]
            )

    def apply_retention(self, max_age_days: float | None = None) -> int:
        """Delete events older than ``max_age_days`` (default: the ``retention_days`` the store was opened
        with). Returns how many were deleted."""
        self._check_open()
        days = max_age_days if max_age_days is not None else self.retention_days
        if days is None:
            return 0
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) or days <= 0:
            raise ValueError("max_age_days must be a positive number")
        cutoff = time.time() - days * 86400.0
        with self._lock, self._store.write() as conn:
            touched = [r[0] for r in conn.execute("SELECT DISTINCT iid FROM events WHERE at < ?", (cutoff,))]
            n = conn.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount
            if n:
                self._recompute_stats(conn, touched)
                self._store.audit(conn, "retention", details={"max_age_days": days, "events_deleted": n})
        if n:
            self._cat.data_version = -1
            self._cat.stats_loaded_at = 0.0
        return n

    # --- egress ---------------------------------------------------------------------------------
    @property
    def egress(self) -> Any:
        """The :class:`~ondevice_rec.privacy.egress.EgressGate`: the only way data leaves the device."""
        if self._egress is None:
            from .privacy.egress import EgressGate

            self._egress = EgressGate(self)
        return self._egress

    # --- introspection --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "store": str(self._store.path),
            "schema_version": SCHEMA_VERSION,
            "bundle": str(self.bundle_path),
            "bundle_name": self.bundle_manifest.get("name"),
            "model_id": self._model_id,
            "items": self.count_items(),
            "users": int(self._store.query("SELECT count(*) FROM users")[0][0]),
            "events": int(self._store.query("SELECT count(*) FROM events")[0][0]),
        }


def _jsonable_context(context: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in context.items():
        out[k] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def _export_row(table: str, row: dict[str, Any], conn: Any) -> dict[str, Any]:
    """Make one row JSON-serialisable and readable: item ids instead of row ids, vectors as float lists."""
    row = dict(row)
    row.pop("uid", None)
    if "iid" in row:
        r = conn.execute("SELECT item_id FROM items WHERE iid=?", (row.pop("iid"),)).fetchone()
        row["item_id"] = r[0] if r else None
    for key in ("pos", "neg"):
        if key in row:
            v = _vec(row[key])
            row[key] = None if v is None else [round(float(x), 6) for x in v]
    for key in ("clauses", "details", "context"):
        if isinstance(row.get(key), str):
            try:
                row[key] = json.loads(row[key])
            except json.JSONDecodeError:
                pass
    return row
