"""How long the privacy centre takes to render one person's page with a long history (issue: ≤ 1 s for 10,000
events). Measured through the WSGI app (what the browser waits for, minus the loopback socket): median and max of
``--repeats`` renders after one warm-up, on a store with the demo catalogue and ``--events`` events of one user
spread over three years.

    python benchmarks/bench_centre.py --events 10000 --out benchmarks/results/centre
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ondevice_rec import Recommender  # noqa: E402
from ondevice_rec.centre import app  # noqa: E402
from ondevice_rec.inputs.items import demo_items  # noqa: E402

KINDS = ("view", "like", "click", "purchase", "rating", "skip")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, Recommender.open(Path(d) / "c.db") as rec:
        items = demo_items()
        rec.add_items(items)
        rec.consent("u").grant("personalization")
        rec.set_profile("u", "I like slow, thoughtful science fiction and no horror")
        now = time.time()
        span = 3 * 365 * 86400.0
        rec.record_many(
            {
                "user_id": "u",
                "item_id": items[i % len(items)]["id"],
                "kind": KINDS[i % len(KINDS)],
                "value": 4.0 if KINDS[i % len(KINDS)] == "rating" else None,
                "at": now - span * i / a.events,
            }
            for i in range(a.events)
        )
        token = "bench-token-bench-token"
        client = app(rec, token=token, user_id="u").test_client()
        url, headers = f"/{token}/u/u", {"Host": "127.0.0.1"}
        first = time.perf_counter()
        resp = client.get(url, headers=headers)
        first_ms = (time.perf_counter() - first) * 1000
        assert resp.status_code == 200 and f">{a.events}<" in resp.data.decode()
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            resp = client.get(url, headers=headers)
            times.append((time.perf_counter() - t) * 1000)
        result = {
            "events": a.events,
            "catalogue_items": len(items),
            "first_render_ms": round(first_ms, 1),
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "repeats": a.repeats,
            "page_bytes": len(resp.data),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "command": "python benchmarks/bench_centre.py " + " ".join(f"--{k} {v}" for k, v in vars(a).items() if v),
        }
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
        (a.out / "results.md").write_text(
            f"# Privacy centre: one person's page with {a.events:,} events\n\n"
            f"Command: `{result['command']}` ({result['machine']}; the machine was running other jobs).\n\n"
            f"| first render (includes the first recommendation) | median of {a.repeats} | max | page size |\n"
            f"|---|---|---|---|\n| {first_ms:.1f} ms | {result['median_ms']} ms | {result['max_ms']} ms |"
            f" {len(resp.data) / 1024:.0f} KB |\n"
        )


if __name__ == "__main__":
    main()
