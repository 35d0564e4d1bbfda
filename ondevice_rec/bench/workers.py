"""The measurements, each run in its own subprocess: ``python -m ondevice_rec.bench.workers NAME JSON``
prints one ``@@RESULT@@`` line of JSON rows."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import HISTORY_USERS
from .stats import peak_rss_mb as _peak_rss_mb
from .stats import result
from .stats import timed as _timed


def _build_store(db: Path, bundle: str | None, size: int, histories: Sequence[int]) -> dict[str, Any]:
    from ..recommender import Recommender
    from .synthetic import synthetic_events, synthetic_items

    items = synthetic_items(size, seed=0)
    tmp = db.with_name(db.name + ".partial")
    for f in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        f.unlink(missing_ok=True)
    t = time.perf_counter()
    with Recommender.open(tmp, bundle=bundle) as rec:
        for i in range(0, size, 2000):
            rec.add_items(items[i : i + 2000])
        ingest = time.perf_counter() - t
        ids = [it["id"] for it in items]
        for h in histories:
            user = HISTORY_USERS.format(h)
            rec.consent(user).grant("personalization")
            rec.record_many(synthetic_events(ids, user, h, seed=h))
        rec.set_profile(HISTORY_USERS.format(histories[0]), "I love hard science fiction and jazz, no horror")
    os.replace(tmp, db)
    return {"items": size, "build_s": round(ingest, 2)}


def _w_recommend(p: dict[str, Any]) -> list[dict[str, Any]]:
    from ..ranking import RankingConfig
    from ..recommender import Recommender

    rows = []
    cfg = RankingConfig()
    search = "prefilter" if cfg.prefilter_min_items and p["size"] >= cfg.prefilter_min_items else "exact"
    with Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"], config=cfg) as rec:
        exact_rec = None
        if search == "prefilter":  # the same store scored exactly, to measure the coarse-to-fine search's recall
            exact_cfg = replace(cfg, prefilter_min_items=0)
            exact_rec = Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"], config=exact_cfg)
        for h in p["histories"]:
            user = HISTORY_USERS.format(h)
            lat = _timed(functools.partial(rec.recommend, user, k=10), p["warmup"], p["requests"])
            params = {"items": p["size"], "history": h, "threads": p["threads"]}
            extra: dict[str, Any] = {"search": search}
            if exact_rec is not None:
                got = {r.item_id for r in rec.recommend(user, k=100, diversity=0.0)}
                want = {r.item_id for r in exact_rec.recommend(user, k=100, diversity=0.0)}
                exact = _timed(functools.partial(exact_rec.recommend, user, k=10), 2, max(10, p["requests"] // 4))
                extra["recall_at_100_vs_exact"] = round(len(got & want) / max(1, len(want)), 4)
                extra["exact_p50_ms"] = round(float(np.median(exact)), 3)
                extra["exact_p95_ms"] = round(float(np.percentile(exact, 95)), 3)
            rows.append(result("recommend", params, lat, keep=True, **extra))
        if exact_rec is not None:
            exact_rec.close()
    for r in rows:
        r["peak_rss_mb"] = _peak_rss_mb()
    return rows


def _w_real(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Real histories, grouped by length: the first request of each user after open (read from the store),
    repeated requests, and a request right after the user recorded a click (the desktop loop). Runs on a copy
    of the store (it records); every user consents, so popularity priors exist as on a shared device."""
    import shutil
    import tempfile

    from ..recommender import Recommender
    from .config import HISTORY_BUCKETS

    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / "real.db"
        shutil.copyfile(p["db"], copy)
        with Recommender.open(copy, bundle=p["bundle"], threads=p["threads"]) as rec:
            users: list[tuple[str, int]] = []
            while batch := rec.list_users(len(users), 1000):
                users += [(u["user_id"], int(u["events"])) for u in batch]
            for u, _ in users:
                rec.consent(u).grant("personalization")
            item_ids = [it["id"] for off in range(0, rec.count_items(), 1000) for it in rec.list_items(off, 1000)]
            longest = max(users, key=lambda x: x[1])
            rec.recommend("bench-warm-up", k=10)  # the process's first request (catalogue, priors) is cold start's
            series: dict[str, dict[str, list[float]]] = {}
            for lo, hi in HISTORY_BUCKETS:
                members = [u for u in users if lo < u[1] <= hi]
                if not members:
                    continue
                pick = [members[i] for i in rng.choice(len(members), min(p["users"], len(members)), replace=False)]
                if lo < longest[1] <= hi and longest not in pick:
                    pick[-1] = longest
                bucket = f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}"
                series[bucket] = _real_bucket(rec, [u for u, _ in pick], item_ids, p, rng)
                span = f"{min(n for _, n in pick)}-{max(n for _, n in pick)}"
                for mode, lat in series[bucket].items():
                    params = {"data": p["data"], "events": bucket, "users": len(pick), "mode": mode}
                    rows.append(result("real", {**params, "range": span, "threads": p["threads"]}, lat, keep=True))
    for mode in ("repeat", "after record"):
        p95 = [float(np.percentile(v[mode], 95)) for v in series.values()]
        if len(p95) >= 2:
            ratio = round(p95[-1] / p95[0], 3)
            params = {"data": p["data"], "what": f"longest/shortest bucket p95, {mode}", "threads": p["threads"]}
            rows.append({"scenario": "real", "params": params, "unit": "ratio", "mean": ratio, "min": ratio, "n": 1})
    for r in rows:
        r["peak_rss_mb"] = _peak_rss_mb()
    return rows


def _real_bucket(
    rec: Any, users: list[str], item_ids: list[str], p: dict[str, Any], rng: np.random.Generator
) -> dict[str, list[float]]:
    def timed(u: str) -> float:
        t = time.perf_counter()
        rec.recommend(u, k=10)
        return (time.perf_counter() - t) * 1000

    first = [timed(u) for u in users]  # the store's change token moved (consents): every user is read afresh
    per_user = max(1, p["requests"] // len(users))
    for u in users:
        for _ in range(max(1, p["warmup"] // len(users))):
            timed(u)
    repeat = [timed(u) for _ in range(per_user) for u in users]
    after = []
    for _ in range(max(1, per_user // 2)):
        for u in users:
            rec.record(u, item_ids[int(rng.integers(len(item_ids)))], kind="click")
            after.append(timed(u))
    return {"first request": first, "repeat": repeat, "after record": after}


def _w_memory(p: dict[str, Any]) -> list[dict[str, Any]]:
    """What one app process costs at this catalogue size, measured alone in its process (no exact twin open
    while RSS is read): process start to first recommendation, peak RSS, recommend latency, ``add_items`` of one
    item; then, with a float32 exact twin opened afterwards, how far the default search (float16 vectors and
    the coarse-to-fine prefilter at this size) is from exact float32 scoring (top-10 overlap)."""
    from ..ranking import RankingConfig
    from ..recommender import Recommender

    t0 = p["t0"]
    users = [HISTORY_USERS.format(h) for h in p["histories"]]
    rec = Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"])
    rec.recommend(users[-1], k=10)
    first_s = time.time() - t0
    rss_first = _peak_rss_mb()
    params = {"items": p["size"], "threads": p["threads"]}
    rows = [result("memory", {**params, "what": "process start to first recommendation"}, [first_s * 1000])]
    lat: list[float] = []
    for u in users:
        lat += _timed(functools.partial(rec.recommend, u, k=10), p["warmup"], p["requests"] // len(users))
    rows.append(result("memory", {**params, "what": "recommend k=10 (all bench users)"}, lat, keep=True))
    t = time.perf_counter()  # the first embed builds the encoder session (deferred at open): reported apart
    rec.add_items([{"id": "bench-add-first", "title": "First added title", "text": "A new arrival."}])
    first_add = (time.perf_counter() - t) * 1000
    rows.append(
        result("memory", {**params, "what": "first add_items of the process (builds the encoder)"}, [first_add])
    )
    add: list[float] = []
    for i in range(p["adds"]):
        item = {"id": f"bench-add-{i}", "title": f"Added title {i}", "text": "A new arrival about space and jazz."}
        t = time.perf_counter()
        rec.add_items([item])
        add.append((time.perf_counter() - t) * 1000)
        rec.recommend(users[-1], k=10)  # the next request sees the item (in-place snapshot update)
    rows.append(result("memory", {**params, "what": "add_items of 1 item (embedded, stored, in the snapshot)"}, add))
    rss = _peak_rss_mb()
    for r in rows:
        r["peak_rss_mb"] = rss
    rows[0]["peak_rss_after_first_mb"] = rss_first
    cfg = RankingConfig()
    if cfg.half_precision_min_items and p["size"] >= cfg.half_precision_min_items:
        exact = Recommender.open(
            p["db"],
            bundle=p["bundle"],
            threads=p["threads"],
            config=RankingConfig(half_precision_min_items=0, prefilter_min_items=0),
        )
        overlaps = []
        for u in users:
            a = [r.item_id for r in rec.recommend(u, k=10, diversity=0.0)]
            b = [r.item_id for r in exact.recommend(u, k=10, diversity=0.0)]
            overlaps.append(len(set(a) & set(b)) / 10)
        rng = np.random.default_rng(0)
        for i in rng.choice(p["size"], size=min(p["size"], 100), replace=False).tolist():
            a = [r.item_id for r in rec.similar_items(f"syn-{i:06d}", k=10, diversity=0.0)]
            b = [r.item_id for r in exact.similar_items(f"syn-{i:06d}", k=10, diversity=0.0)]
            overlaps.append(len(set(a) & set(b)) / 10)
        exact.close()
        rows.append(
            {
                "scenario": "memory",
                "params": {**params, "what": "top-10 overlap, default (float16 + prefilter) vs exact float32"},
                "unit": "share",
                "mean": round(float(np.mean(overlaps)), 4),
                "min": round(float(np.min(overlaps)), 4),
                "n": len(overlaps),
                "queries": f"{len(users)} users + {len(overlaps) - len(users)} similar_items",
            }
        )
    rec.close()
    return rows


def _w_start(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Process start (``t0``, taken by the parent just before it spawned us) to the first recommendation,
    and nothing else: no writes, so the store and its vector cache stay as they were."""
    from ..recommender import Recommender

    with Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"]) as rec:
        rec.recommend(HISTORY_USERS.format(p["histories"][-1]), k=10)
        first_s = time.time() - p["t0"]
    what = f"process start to first recommendation ({p['what']})"
    params = {"items": p["size"], "threads": p["threads"], "what": what}
    return [result("memory", params, [first_s * 1000], peak_rss_mb=_peak_rss_mb())]


def _w_ingest(p: dict[str, Any]) -> list[dict[str, Any]]:
    from ..recommender import Recommender
    from .synthetic import synthetic_items

    items = synthetic_items(p["n"], seed=1)
    db = Path(p["dir"]) / "ingest.db"
    with Recommender.open(db, bundle=p["bundle"]) as rec:
        per_batch = []
        for i in range(0, len(items), 100):
            t = time.perf_counter()
            rec.add_items(items[i : i + 100])
            per_batch.append((time.perf_counter() - t) * 1000 / len(items[i : i + 100]))
    total_s = sum(per_batch) * 100 / 1000
    return [
        result(
            "ingest",
            {"items": p["n"]},
            per_batch,
            unit="ms/item",
            items_per_s=round(p["n"] / total_s, 1),
            peak_rss_mb=_peak_rss_mb(),
        )
    ]


def _w_redact(p: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        from ..privacy.masking import Redactor
    except ImportError as e:  # pragma: no cover - depends on extras
        return [{"scenario": "redact", "params": {}, "skipped": f"privacy extra not installed ({e})"}]
    from ..errors import MissingExtraError

    text = (
        "Dear support, my name is Jane Miller and I live at 42 Elm Street, Springfield. Call me on "
        "+1 415 555 0132 or write to jane.miller@example.com. I watched three sci-fi films last week and "
        "would like more of the same, especially anything with space travel or time loops in it. "
    )
    text = (text * (1024 // len(text) + 1))[:1024]
    try:
        r = Redactor()
        lat = _timed(lambda: r.redact(text), 3, p["n"])
    except MissingExtraError as e:
        return [{"scenario": "redact", "params": {}, "skipped": str(e)}]
    return [result("redact", {"text_kb": 1}, lat, unit="ms", peak_rss_mb=_peak_rss_mb())]


def _w_backends(p: dict[str, Any]) -> list[dict[str, Any]]:
    from ..backends import open_encoder, open_reranker, open_text_encoder
    from ..bundle import load_bundle
    from ..ranking.templates import ranker_prefix, ranker_suffix
    from .synthetic import synthetic_items

    b = load_bundle(p["bundle"])
    texts = [it["title"] + ". " + it.get("text", "") for it in synthetic_items(64, seed=2)]
    rows: list[dict[str, Any]] = []
    wanted = set(p["backends"])
    for name in ("onnx-text-fp32", "onnx-text-int8"):
        if name not in wanted:
            continue
        enc = open_text_encoder(b, threads=p["threads"], precision=name.rsplit("-", 1)[1])
        lat = _timed(functools.partial(enc.embed, texts), 2, p["reps"])
        rows.append(
            result(
                "backends",
                {"backend": name, "per": "candidate (item text embedding)"},
                [x * 1000 / 64 for x in lat],
                unit="us",
            )
        )
        enc.close()
    spec = b.manifest.two_tower
    if spec is not None:
        for prec in ("fp32", "int8"):
            name = f"onnx-user-{prec}"
            if name not in wanted or prec not in spec.user_tower:
                continue
            rk = open_encoder(b, threads=p["threads"], precision=prec)
            rng = np.random.default_rng(0)
            hist = rng.standard_normal((50, rk.dim)).astype(np.float32)
            items = rng.standard_normal((p["candidates"], rk.dim)).astype(np.float32)

            def one(rk: Any = rk, hist: np.ndarray = hist, items: np.ndarray = items) -> None:
                u = rk.user_vector(hist, None)
                np.argpartition(-(items @ u), 10)[:10]

            lat = _timed(one, 5, p["reps"] * 5)
            rows.append(
                result(
                    "backends",
                    {"backend": name, "per": f"candidate (user tower over 50 events + {p['candidates']} dots)"},
                    [x * 1000 / p["candidates"] for x in lat],
                    unit="us",
                    request_ms=round(float(np.median(lat)), 4),
                )
            )
            rk.close()
    llm = b.manifest.llm_ranker
    if llm is not None and "gguf" in wanted:
        ranker = open_reranker(b, threads=p["threads"])
        prefix = ranker_prefix([f"Movie number {i} (1995)" for i in range(10)])
        sufs = [ranker_suffix(f"Candidate film {i} (1997)") for i in range(20)]
        lat = _timed(lambda: ranker.score(prefix, sufs), 1, max(3, p["reps"] // 4))
        rows.append(
            result(
                "backends",
                {"backend": f"gguf-{llm.type.lower()}", "per": "candidate (LLM Yes/No, prefix reused)"},
                [x * 1000 / 20 for x in lat],
                unit="us",
            )
        )
        ranker.close()
    for r in rows:
        r["params"]["threads"] = p["threads"]
        r["peak_rss_mb"] = _peak_rss_mb()
    return rows


def _w_rerank(p: dict[str, Any]) -> list[dict[str, Any]]:
    from ..backends.llama import LlamaRanker
    from ..bundle import load_bundle
    from ..ranking.templates import ranker_prefix, ranker_suffix

    b = load_bundle(p["bundle"])
    llm = b.manifest.llm_ranker
    if llm is None:
        return [{"scenario": "rerank", "params": {}, "skipped": "bundle has no GGUF LLM ranker (--formats gguf)"}]
    ranker = LlamaRanker(str(b.verified_path(llm.file)), threads=p["threads"])
    prefix = ranker_prefix([f"Movie number {i}: a story about people ({1980 + i})" for i in range(10)])
    sufs = [ranker_suffix(f"Candidate film {i} (1997)") for i in range(p["top"])]
    rows = []
    for mode in ("prefix-reuse", "no-reuse", "batched"):
        fn: Callable[[], Any] = (
            functools.partial(ranker.score_batched, prefix, sufs)
            if mode == "batched"
            else functools.partial(ranker.score, prefix, sufs, reuse_prefix=mode == "prefix-reuse")
        )
        lat = _timed(fn, 1, p["reps"])
        rows.append(result("rerank", {"top": p["top"], "mode": mode, "threads": p["threads"]}, lat))
    ranker.close()
    for r in rows:
        r["peak_rss_mb"] = _peak_rss_mb()
    return rows


COLD_START = """
import sys, time, json
t0 = float(sys.argv[1])
from ondevice_rec import Recommender
t = time.perf_counter()
rec = Recommender.open(sys.argv[2], bundle=sys.argv[3] or None)
opened = time.perf_counter() - t
rec.recommend(sys.argv[4], k=10)
first = time.time() - t0
rec.close()
print(json.dumps({"first_s": first, "open_s": opened}))
"""


def _w_scale(p: dict[str, Any]) -> list[dict[str, Any]]:
    from .scale import measure

    return measure(p)


WORKERS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "scale": _w_scale,
    "recommend": _w_recommend,
    "memory": _w_memory,
    "start": _w_start,
    "real": _w_real,
    "ingest": _w_ingest,
    "redact": _w_redact,
    "backends": _w_backends,
    "rerank": _w_rerank,
}


def _worker_main() -> None:
    """Entry point of a measurement subprocess: ``python -m ondevice_rec.bench NAME JSON``."""
    name, params = sys.argv[1], json.loads(sys.argv[2])
    if name == "build":
        out: Any = _build_store(Path(params["db"]), params["bundle"], params["size"], params["histories"])
    elif name == "scale-build":
        from .scale import build

        out = build(params)
    else:
        out = WORKERS[name](params)
    sys.stdout.write("\n@@RESULT@@" + json.dumps(out) + "\n")


if __name__ == "__main__":
    _worker_main()
