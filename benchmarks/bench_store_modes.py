"""What durability="full" and encryption at rest cost, on real data, in one run (issue 30).

Three stores side by side: plain with durability "normal" (the default), plain with "full", and encrypted
(SQLCipher, raw 32-byte key, "normal"). Each gets the ML-100K catalogue (1,682 titles) and its 100,000 ratings
imported from one CSV file; then, interleaved so that machine noise hits every mode alike, single ``record``
calls (the write an app makes per click) and ``recommend`` calls for real users, the heaviest included.
Medians per operation and the ratio to the plain "normal" store. Also the cost of opening an encrypted store
with a raw key vs a passphrase (SQLCipher's PBKDF2).

    python benchmarks/bench_store_modes.py --data ../shared/data/ml-100k --out benchmarks/results/store-modes
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ondevice_rec import Recommender

KEY = bytes(range(32))
PASSPHRASE = "correct horse battery staple"
MODES: dict[str, dict[str, Any]] = {
    "plain": {"durability": "normal"},
    "plain-full": {"durability": "full"},
    "encrypted": {"durability": "normal", "encryption_key": KEY},
}


def _items(data: Path) -> list[dict[str, Any]]:
    genres = [g.split("|")[0] for g in (data / "u.genre").read_text(encoding="latin-1").split("\n") if g]
    out = []
    for line in (data / "u.item").read_text(encoding="latin-1").splitlines():
        f = line.split("|")
        tags = [genres[i] for i, flag in enumerate(f[5:]) if flag == "1"]
        out.append({"id": f[0], "title": f[1], "tags": tags})
    return out


def _events_csv(data: Path, dst: Path) -> list[tuple[str, str]]:
    rows = [line.split("\t") for line in (data / "u.data").read_text().splitlines()]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "kind", "value", "at"])
        for u, i, r, t in rows:
            w.writerow([u, i, "rating", r, t])
    return [(u, i) for u, i, _, _ in rows]


def _ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ml-100k"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/store-modes"))
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--users", type=int, default=150)
    args = ap.parse_args()
    rng = random.Random(0)
    tmp = Path(tempfile.mkdtemp(prefix="odrec-modes-"))
    items = _items(args.data)
    pairs = _events_csv(args.data, tmp / "ratings.csv")
    counts: dict[str, int] = {}
    for u, _ in pairs:
        counts[u] = counts.get(u, 0) + 1
    heaviest = max(counts, key=lambda u: counts[u])
    users = [heaviest, *rng.sample(sorted(counts), args.users)]
    recs = {m: Recommender.open(tmp / f"{m}.db", **kw) for m, kw in MODES.items()}
    timings: dict[str, dict[str, Any]] = {m: {} for m in MODES}
    for m, rec in recs.items():
        timings[m]["add_items_s"] = _ms(lambda rec=rec: rec.add_items(items)) / 1000.0
    for m, rec in recs.items():
        rep = rec.import_events(tmp / "ratings.csv")
        timings[m]["import_s"] = rep.seconds
        timings[m]["import_rows_per_s"] = rep.rows_per_second
        for u in users:
            rec.consent(u).grant("personalization")
    order = list(MODES)
    rec_ms: dict[str, list[float]] = {m: [] for m in MODES}
    ids = [it["id"] for it in items]
    for _ in range(args.records):
        rng.shuffle(order)
        u, i = rng.choice(users), rng.choice(ids)
        for m in order:
            rec_ms[m].append(_ms(lambda m=m, u=u, i=i: recs[m].record(u, i, kind="click")))
    reco_ms: dict[str, list[float]] = {m: [] for m in MODES}
    heavy_ms: dict[str, list[float]] = {m: [] for m in MODES}
    for rnd in range(2):  # the first round warms each store's caches; the second is measured
        for u in users:
            rng.shuffle(order)
            for m in order:
                t = _ms(lambda m=m, u=u: recs[m].recommend(u, k=10))
                if rnd:
                    (heavy_ms if u == heaviest else reco_ms)[m].append(t)
    for rec in recs.values():
        rec.close()
    opens: dict[str, list[float]] = {"raw key": [], "passphrase": []}
    pp = tmp / "pp.db"
    Recommender.open(pp, encryption_key=PASSPHRASE).close()
    for _ in range(5):
        opens["raw key"].append(_ms(lambda: Recommender.open(tmp / "encrypted.db", encryption_key=KEY).close()))
        opens["passphrase"].append(_ms(lambda: Recommender.open(pp, encryption_key=PASSPHRASE).close()))
    base = timings["plain"]
    results: dict[str, Any] = {}
    for m in MODES:
        t = timings[m]
        results[m] = {
            "record_median_ms": round(statistics.median(rec_ms[m]), 4),
            "recommend_median_ms": round(statistics.median(reco_ms[m]), 3),
            "recommend_heaviest_median_ms": round(statistics.median(heavy_ms[m]), 3),
            "import_rows_per_s": round(t["import_rows_per_s"], 1),
            "add_items_s": round(t["add_items_s"], 3),
        }
    for m in MODES:
        r, b = results[m], results["plain"]
        r["ratio"] = {
            "record": round(r["record_median_ms"] / b["record_median_ms"], 3),
            "recommend": round(r["recommend_median_ms"] / b["recommend_median_ms"], 3),
            "import": round(base["import_rows_per_s"] / timings[m]["import_rows_per_s"], 3),
        }
    report = {
        "command": "python benchmarks/bench_store_modes.py --data ../shared/data/ml-100k "
        "--out benchmarks/results/store-modes",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "data": f"ML-100K: {len(items)} items, {len(pairs)} ratings; {len(users)} users ({heaviest} with "
        f"{counts[heaviest]} ratings the heaviest); {args.records} record calls per mode",
        "modes": {m: {k: (v if k != "encryption_key" else "32 raw bytes") for k, v in kw.items()} for m, kw in
                  MODES.items()},
        "results": results,
        "open_encrypted_median_ms": {k: round(statistics.median(v), 2) for k, v in opens.items()},
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Store modes: durability and encryption at rest (one run, ML-100K)",
        "",
        f"Command: `{report['command']}`  ",
        f"Data: {report['data']}",
        "",
        "| mode | record (median ms) | recommend (median ms) | heaviest user (ms) | import (rows/s) | "
        "ratio to plain: record / recommend / import time |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in results.items():
        q = r["ratio"]
        lines.append(
            f"| {m} | {r['record_median_ms']:.3f} | {r['recommend_median_ms']:.2f} | "
            f"{r['recommend_heaviest_median_ms']:.2f} | {r['import_rows_per_s']:.0f} | "
            f"{q['record']:.2f} / {q['recommend']:.2f} / {q['import']:.2f} |"
        )
    o = report["open_encrypted_median_ms"]
    lines += ["", f"Opening the encrypted store: {o['raw key']:.1f} ms with a raw key, {o['passphrase']:.1f} ms with "
              "a passphrase (PBKDF2), medians of 5."]  # fmt: skip
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
