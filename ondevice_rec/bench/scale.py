"""The ``scale`` scenario: one app process over a catalogue of a million real texts (``--scale-data DIR``, made by
``benchmarks/data/million_texts.py``: multilingual Wikipedia sentences and frequent words, embedded with the
default bundle's text encoder). Measured: building the store and its ANN index, process start to the first
recommendation, ``recommend``/``similar_items`` latency by history length, peak RSS, and how many of the top
10 the ANN search shares with exact scoring of every item (recall@10), with the default diversity and none:
against exact search over the same int8 rows (what the index costs) and against exact float32 scoring (what
the index and the int8 storage cost together).

Popularity: the texts carry none, so each item gets the catalogue popularity of a Zipf law (exponent 1) over a
seeded random order — the long tail of real catalogues, stated as such. Users: 8 per history length, each
history drawn from the 400 nearest items of two random seed items (so it has topics, like a real one)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .stats import peak_rss_mb, result, timed

PER_LENGTH = 8


def _texts(src: Path) -> tuple[list[str], np.ndarray]:
    texts = []
    with open(src / "texts.tsv", encoding="utf-8") as f:
        for line in f:
            texts.append(line.rstrip("\n").split("\t", 1)[1])
    chunks = sorted((src / "vec").glob("[0-9][0-9][0-9][0-9][0-9].npy"))
    vecs = np.concatenate([np.load(p) for p in chunks]) if chunks else np.zeros((0, 384), np.float16)
    if len(vecs) != len(texts):
        raise SystemExit(f"{src}: {len(vecs)} of {len(texts)} texts embedded (run million_texts.py to finish)")
    return texts, vecs


def users_of(histories: list[int]) -> list[tuple[str, int]]:
    return [(f"scale-{h}-{j}", h) for h in histories for j in range(PER_LENGTH)]


def build(p: dict[str, Any]) -> dict[str, Any]:
    """Write the catalogue (vectors as embedded: nothing is embedded again), popularity and users into a new
    store, then open it as an app would: the first request scans the vectors, writes the vector cache and
    builds and saves the ANN index."""
    from ..ranking.templates import item_text
    from ..recommender import Recommender
    from ..store.rows import Item

    src, db = Path(p["src"]), Path(p["db"])
    texts, vecs = _texts(src)
    n = len(texts)
    rng = np.random.default_rng(0)
    pop = 1e6 / (1.0 + rng.permutation(n))  # Zipf, exponent 1, over a random order
    tmp = db.with_name(db.name + ".partial")
    for f in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        f.unlink(missing_ok=True)
    t = time.perf_counter()
    with Recommender.open(tmp, bundle=p["bundle"]) as rec:
        space = rec.space_id
        for s in range(0, n, 20_000):
            part = range(s, min(n, s + 20_000))
            items = [Item(id=f"t{i:07d}", title=texts[i], popularity=float(pop[i])) for i in part]
            shas = [hashlib.sha256(item_text(it.as_dict()).encode("utf-8")).hexdigest()[:32] for it in items]
            rows = {j: vecs[s + j].astype(np.float32) for j in range(len(items))}
            rec._store.catalog.upsert(items, shas, rows, space)
        write_s = time.perf_counter() - t
        for u, h in users_of(p["histories"]):
            seeds = rng.choice(n, 2, replace=False)
            near = np.concatenate([_nearest(vecs, vecs[s].astype(np.float32), 400) for s in seeds])
            picks = rng.choice(near, h, replace=len(near) < h)
            now = time.time()
            kinds = ["like", "view", "click"]
            rec.record_many(
                [
                    {"user_id": u, "item_id": f"t{int(i):07d}", "kind": kinds[j % 3], "at": now - (h - j) * 60}
                    for j, i in enumerate(picks)
                ]
            )
            rec.consent(u).grant("personalization")
    os.replace(tmp, db)
    t = time.perf_counter()
    with Recommender.open(db, bundle=p["bundle"]) as rec:
        rec.recommend(users_of(p["histories"])[-1][0], k=10)
        first_s = time.perf_counter() - t
    ann, cache = db.with_name(db.name + "-ann"), db.with_name(db.name + "-vectors")
    return {
        "items": n,
        "write_s": round(write_s, 1),
        "first_open_s": round(first_s, 1),
        "ann_bytes": ann.stat().st_size if ann.exists() else 0,
        "vector_cache_bytes": cache.stat().st_size if cache.exists() else 0,
        "texts_sha256": json.loads((src / "sources.json").read_text())["texts_sha256"],
    }


def _nearest(vecs: np.ndarray, q: np.ndarray, m: int, chunk: int = 65_536) -> np.ndarray:
    sims = np.empty(len(vecs), np.float32)
    for s in range(0, len(vecs), chunk):
        sims[s : s + chunk] = vecs[s : s + chunk].astype(np.float32) @ q
    m = min(m, len(vecs) - 1)
    return np.argpartition(-sims, m)[:m]


def measure(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Start, latency and RSS of one process with the default search; then recall@10 against an exact twin
    opened after the first is closed (so its memory is not in the peak RSS above)."""
    from ..ranking import RankingConfig
    from ..recommender import Recommender

    users = users_of(p["histories"])
    base = {"items": p["size"], "threads": p["threads"]}
    rec = Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"])
    rec.recommend(users[-1][0], k=10)
    first_ms = (time.time() - p["t0"]) * 1000
    rows = [result("scale", {**base, "what": "process start to first recommendation"}, [first_ms])]
    rng = np.random.default_rng(1)
    per = max(1, p["requests"] // len(users))
    for h in p["histories"]:
        lat: list[float] = []
        for u, hu in users:
            if hu == h:
                lat += timed(functools.partial(rec.recommend, u, k=10), 2, per)
        rows.append(result("scale", {**base, "events": h, "what": "recommend k=10, repeat"}, lat, keep=True))
    after: list[float] = []
    for u, _ in users:
        rec.record(u, f"t{int(rng.integers(p['size'])):07d}", kind="click")
        t = time.perf_counter()
        rec.recommend(u, k=10)
        after.append((time.perf_counter() - t) * 1000)
    rows.append(result("scale", {**base, "what": "recommend k=10 after record"}, after, keep=True))
    probes = [f"t{int(i):07d}" for i in rng.choice(p["size"], 50, replace=False)]
    sim: list[float] = []
    for it in probes:
        t = time.perf_counter()
        rec.similar_items(it, k=10)
        sim.append((time.perf_counter() - t) * 1000)
    rows.append(result("scale", {**base, "what": "similar_items k=10"}, sim, keep=True))
    cold = timed(lambda: rec.recommend("scale-new-user", k=10), 2, per)
    rows.append(result("scale", {**base, "what": "recommend k=10, user without history"}, cold, keep=True))
    rss = peak_rss_mb()
    got = _tops(rec, users, probes)
    rec.close()
    twins = (  # opened read-only, one after the other: no cache file of theirs is written
        ("exact search over the same int8 rows", RankingConfig(ann_min_items=0, prefilter_min_items=0)),
        (
            "exact float32",
            RankingConfig(ann_min_items=0, prefilter_min_items=0, int8_min_items=0, half_precision_min_items=0),
        ),
    )
    for twin, cfg in twins:
        with Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"], config=cfg, read_only=True) as ex:
            want = _tops(ex, users, probes)
        for what, kind in (
            ("recommend (default diversity)", "rec"),
            ("recommend (diversity 0)", "rec0"),
            ("similar_items", "sim"),
        ):
            keys = [k for k in got if k[0] == kind]
            rec10 = [len(set(got[k]) & set(want[k])) / max(1, len(want[k])) for k in keys]
            rows.append(
                {
                    "scenario": "scale",
                    "params": {**base, "what": f"recall@10 vs {twin}, {what}"},
                    "unit": "share",
                    "mean": round(float(np.mean(rec10)), 4),
                    "min": round(float(np.min(rec10)), 4),
                    "n": len(rec10),
                }
            )
    for r in rows:
        r["peak_rss_mb"] = rss
    return rows


def _tops(rec: Any, users: list[tuple[str, int]], probes: list[str]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for u, _ in [*users, ("scale-new-user", 0)]:
        out[("rec", u)] = [r.item_id for r in rec.recommend(u, k=10)]
        out[("rec0", u)] = [r.item_id for r in rec.recommend(u, k=10, diversity=0.0)]
    for it in probes:
        out[("sim", it)] = [r.item_id for r in rec.similar_items(it, k=10, diversity=0.0)]
    return out
