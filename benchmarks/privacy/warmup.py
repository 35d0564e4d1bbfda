"""How long the egress gate's first send blocks the caller, cold and after a background warm-up.

Each case runs in a fresh process (models load once per process): open a store, declare a purpose, grant it,
then time ``rec.egress.send`` of a short English payload on the caller's thread.

- ``cold``: ``Recommender(path)``; the first send loads Presidio, spaCy, the PII tagger and language
  identification on the caller's thread.
- ``warm``: ``Recommender(path, warm_privacy=True)``; the app keeps working while the models load on a
  background thread; the first send comes once ``rec.egress.ready`` (the time until then is reported too).
- ``early``: ``warm_privacy=True`` and the first send at once: it waits for the warm-up already under way.

    python benchmarks/privacy/warmup.py --runs 3 --out benchmarks/results/privacy/warmup.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAYLOAD = {"question": "Hi, I'm John Smith (john@example.com), any jazz like Kind of Blue?"}


def one(case: str) -> dict[str, float]:
    from ondevice_rec import Recommender

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        rec = Recommender(Path(d) / "rec.db", warm_privacy=case != "cold")
        opened = time.perf_counter() - t0
        rec.egress.declare("cloud-llm", "Ask a cloud LLM")
        rec.consent("u").grant("cloud-llm")
        ready = float("nan")
        if case == "warm":
            while not rec.egress.ready:
                time.sleep(0.05)
            ready = time.perf_counter() - t0
        t1 = time.perf_counter()
        rec.egress.send("cloud-llm", PAYLOAD, lambda p: p, user_id="u")
        first = time.perf_counter() - t1
        t2 = time.perf_counter()
        rec.egress.send("cloud-llm", PAYLOAD, lambda p: p, user_id="u")
        second = time.perf_counter() - t2
        rec.close()
    return {"open_s": opened, "ready_s": ready, "first_send_s": first, "second_send_s": second}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--case", choices=["cold", "warm", "early"], help=argparse.SUPPRESS)  # child process
    args = ap.parse_args()
    if args.case:
        print(json.dumps(one(args.case)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": [], "early": []}
    for _ in range(args.runs):
        for case in results:
            out = subprocess.run(
                [sys.executable, __file__, "--case", case], capture_output=True, text=True, env=env, check=True
            )
            results[case].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {
        case: {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]} for case, runs in results.items()
    }
    report = {
        "command": "python benchmarks/privacy/warmup.py " + " ".join(sys.argv[1:]),
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "median": summary,
        "raw": results,
    }
    print("| case | open s | ready s | first send s | second send s |\n|---|---|---|---|---|")
    for case, m in summary.items():
        print(f"| {case} | {m['open_s']} | {m['ready_s']} | {m['first_send_s']} | {m['second_send_s']} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
