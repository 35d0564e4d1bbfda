"""Runtime benchmark: ingest rate, warm ``recommend`` latency and process start → first recommendation.

    python benchmarks/bench_runtime.py --items 10000 --out benchmarks/results/runtime.json

Reports medians and percentiles measured in one run (shared machines are noisy; compare ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ondevice_rec import Recommender
from ondevice_rec.synthetic import synthetic_events, synthetic_items

COLD = """
import time, sys
t0 = float(sys.argv[2])
from ondevice_rec import Recommender
with Recommender.open(sys.argv[1]) as rec:
    rec.recommend("bench-user", k=10)
print(time.time() - t0)
"""


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--history", type=int, default=50)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="odrec-bench-"))
    db = tmp / "bench.db"
    items = synthetic_items(args.items, seed=0)
    with Recommender.open(db) as rec:
        t0 = time.perf_counter()
        for i in range(0, len(items), 1000):
            rec.add_items(items[i : i + 1000])
        ingest_s = time.perf_counter() - t0
        ids = [it["id"] for it in items]
        rec.consent("bench-user").grant("personalization")
        rec.set_profile("bench-user", "I love hard science fiction and jazz, no horror")
        rec.record_many(synthetic_events(ids, "bench-user", args.history, seed=1))
        for _ in range(20):  # warm-up
            rec.recommend("bench-user", k=10)
        lat = []
        for _ in range(args.requests):
            t = time.perf_counter()
            rec.recommend("bench-user", k=10)
            lat.append((time.perf_counter() - t) * 1000)
    cold = []
    for _ in range(args.cold_runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(db), repr(time.time())],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        cold.append(float(out.stdout.strip()))
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "os": platform.platform(),
        },
        "items": args.items,
        "history_events": args.history,
        "ingest_items_per_s": round(args.items / ingest_s, 1),
        "ingest_s": round(ingest_s, 2),
        "recommend_ms": {
            "p50": round(pct(lat, 50), 3),
            "p95": round(pct(lat, 95), 3),
            "p99": round(pct(lat, 99), 3),
            "n": len(lat),
        },
        "first_recommendation_s": {
            "median": round(statistics.median(cold), 3),
            "max": round(max(cold), 3),
            "runs": [round(c, 3) for c in cold],
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
