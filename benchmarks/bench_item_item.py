"""What the item-item blend costs a request: ``recommend`` latency of one student bundle with and without its
item-item table, on the bundle's own catalogue, in one run (medians of interleaved requests).

    python benchmarks/bench_item_item.py --bundle /tmp/exp/sports --data-dir /tmp/amazon-sports \\
        --out benchmarks/results/export-scale
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ondevice_rec import Recommender
from ondevice_rec.bundle import read_manifest, write_bundle
from ondevice_rec.datasets import leave_one_out, load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--dataset", default="generic")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    manifest = read_manifest(args.bundle)
    tt = manifest.two_tower
    if tt is None or not tt.item_item:
        raise SystemExit(f"{args.bundle} has no item-item table (its validation kept the blend off)")
    split = leave_one_out(load_dataset(args.dataset, args.data_dir))
    work = Path(tempfile.mkdtemp(prefix="odrec-ii-"))
    plain = work / "plain"
    files: dict[str, bytes | Path] = {n: args.bundle / n for n in manifest.files if n != tt.item_item}
    write_bundle(plain, replace(manifest, files={}, two_tower=replace(tt, item_item=None, item_item_weight=0.0)), files)
    rng = np.random.default_rng(0)
    users = rng.choice(split.n_users, args.requests, replace=False)
    recs = {}
    for name, b in (("with item-item", args.bundle), ("without", plain)):
        rec = Recommender.open(work / f"{name}.db", bundle=b)
        rec.add_items([{"id": i, "title": i, "text": t} for i, t in zip(split.item_ids, split.item_text)])
        for u in users.tolist():
            uid = f"u{u}"
            rec.consent(uid).grant("personalization")
            for i in split.train[u][-10:].tolist():
                rec.record(uid, split.item_ids[i], kind="purchase")
        rec.recommend(f"u{users[0]}", k=10)  # warm the snapshot (and the row → table map)
        recs[name] = rec
    times: dict[str, list[float]] = {k: [] for k in recs}
    for u in users.tolist():
        for name, rec in recs.items():
            t = time.perf_counter()
            rec.recommend(f"u{u}", k=10)
            times[name].append((time.perf_counter() - t) * 1e3)
    for rec in recs.values():
        rec.close()
    out = {
        name: {"median_ms": round(statistics.median(v), 2), "p95_ms": round(float(np.percentile(v, 95)), 2)}
        for name, v in times.items()
    }
    out["items"] = split.n_items  # type: ignore[assignment]
    out["requests"] = args.requests  # type: ignore[assignment]
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "item-item-latency.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
