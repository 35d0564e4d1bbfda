"""Statistics of a benchmark: percentiles, report rows, and ratios between two runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """n, mean, min, max and the 50th/95th/99th percentiles (linear interpolation, as numpy's default)."""
    a = np.asarray(list(samples), dtype=np.float64)
    if a.size == 0:
        raise ArgumentError("no samples")
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "n": int(a.size),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(a.max()),
    }


def result(
    scenario: str,
    params: dict[str, Any],
    samples: Sequence[float],
    *,
    unit: str = "ms",
    keep: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One row of the report: percentiles of ``samples`` (in ``unit``) and throughput per second."""
    stats = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in percentiles(samples).items()}
    row: dict[str, Any] = {"scenario": scenario, "params": params, "unit": unit, **stats}
    if unit == "ms" and stats["mean"] > 0:
        row["throughput_per_s"] = round(1000.0 / stats["mean"], 2)
    if keep:
        row["samples"] = [round(float(s), 4) for s in samples]
    row.update(extra)
    return row


def key(row: dict[str, Any]) -> str:
    return row["scenario"] + " " + json.dumps(row.get("params", {}), sort_keys=True)


def compare(new: dict[str, Any], old: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows present in both reports with ``ratio`` = new p50 / old p50 (below 1 = faster now)."""
    old_rows = {key(r): r for r in old.get("results", [])}
    out = []
    for r in new.get("results", []):
        o = old_rows.get(key(r))
        if o is None or not o.get("p50") or r.get("unit") != o.get("unit"):
            continue
        out.append(
            {
                "scenario": r["scenario"],
                "params": r["params"],
                "unit": r["unit"],
                "old_p50": o["p50"],
                "new_p50": r["p50"],
                "ratio": round(r["p50"] / o["p50"], 3),
            }
        )
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    import resource
    import sys

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(r / (2**20 if sys.platform == "darwin" else 1024), 1)


def timed(fn: Callable[[], Any], warmup: int, n: int) -> list[float]:
    """Milliseconds of ``n`` calls of ``fn`` after ``warmup`` untimed ones."""
    import time

    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out
