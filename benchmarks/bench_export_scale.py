"""Export time against data size: ``odrec export --max-users N`` (a seeded random N users) for several N, one
after the other on this machine, and a table of what each manifest recorded (seconds per stage, peak RSS, users, items,
interactions, validation NDCG@10).

    python benchmarks/data/amazon_s3rec.py --mirror /work/.mirror --category Sports_and_Outdoors \
        --out /tmp/amazon-sports
    python benchmarks/bench_export_scale.py --dataset generic --data-dir /tmp/amazon-sports --users 10000,25000,all \\
        --out benchmarks/results/export-scale -- --no-teacher

Arguments after ``--`` go to every ``odrec export``. ``--collect DIR ...`` only gathers bundles exported before.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def export(dataset: str, data_dir: str, users: str, out: Path, extra: list[str]) -> Path:
    bundle = out / "bundles" / f"users-{users}"
    cmd = [sys.executable, "-m", "ondevice_rec.cli", "export", "--dataset", dataset, "--data-dir", data_dir]
    cmd += ["--out", str(bundle), "--overwrite", *([] if users == "all" else ["--max-users", users]), *extra]
    log = out / f"log-users-{users}.txt"
    t = time.perf_counter()
    with open(log, "w") as f:
        f.write("$ odrec " + " ".join(cmd[3:]) + "\n")
        f.flush()
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)
    print(f"users={users}: {time.perf_counter() - t:.0f} s wall, log {log}")
    return bundle


def row(bundle: Path) -> dict[str, Any]:
    m = json.loads((bundle / "manifest.json").read_text())
    st, peak, ds = m.get("stage_seconds") or {}, m.get("peak_rss_mb") or {}, m.get("dataset") or {}
    tr = m.get("training") or {}
    return {
        "bundle": str(bundle),
        "users": ds.get("users"),
        "items": ds.get("items"),
        "interactions": ds.get("interactions"),
        "loss": tr.get("loss"),
        "epochs_run": (tr.get("log") or [{}])[-1].get("epoch"),
        "stage_seconds": st,
        "total_seconds": round(sum(st.values()), 1),
        "peak_rss_mb": max(peak.values()) if peak else None,
        "valid_ndcg10_int8": (m.get("validation") or {}).get("valid_ndcg10_onnx_int8"),
        "item_item": tr.get("item_item"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    stages = sorted({k for r in rows for k in r["stage_seconds"]}, key=lambda k: list(rows[0]["stage_seconds"]).index(k)
                    if k in rows[0]["stage_seconds"] else 99)  # fmt: skip
    head = ["users", "items", "interactions", *[f"{s} (s)" for s in stages], "total (s)", "peak RSS (MB)",
            "epochs", "valid NDCG@10 int8"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['users']:,}", f"{r['items']:,}", f"{r['interactions']:,}"]
        cells += [f"{r['stage_seconds'].get(s, 0):.0f}" for s in stages]
        cells += [f"{r['total_seconds']:.0f}", f"{r['peak_rss_mb']:.0f}", str(r["epochs_run"]),
                  f"{r['valid_ndcg10_int8']:.4f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="generic")
    ap.add_argument("--data-dir")
    ap.add_argument("--users", default="10000,25000,all")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--collect", nargs="*", type=Path, help="only tabulate these bundle directories")
    ap.add_argument("extra", nargs="*", help="after --: arguments for every odrec export")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.collect:
        bundles = list(args.collect)
    else:
        bundles = [export(args.dataset, args.data_dir, u, args.out, args.extra) for u in args.users.split(",")]
    rows = sorted((row(b) for b in bundles), key=lambda r: r["users"])
    machine = {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor()}
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "machine": machine}, indent=2) + "\n")
    (args.out / "results.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
