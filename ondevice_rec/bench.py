"""``odrec bench``: latency, throughput and memory of the on-device runtime on this machine.

Each measurement unit (one catalogue size and thread count, the cold start, one backend…) runs in a fresh
subprocess, so the peak RSS reported for it is its own and one crash cannot take the run down. Stores built
for the catalogue sizes are cached in the work directory. Ctrl-C stops the run and still writes what was
measured. Report medians, percentiles and ratios: absolute times on shared machines are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OdrecError

SCHEMA = "odrec-bench/1"
SCENARIOS = ("cold-start", "recommend", "backends", "rerank", "ingest", "redact")
HISTORY_USERS = "bench-h{}"


class BenchError(OdrecError):
    """A benchmark cannot run as asked (unknown scenario, missing backend, catalogue too large)."""


@dataclass(frozen=True)
class BenchConfig:
    bundle: str | None = None
    scenarios: tuple[str, ...] = SCENARIOS
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    histories: tuple[int, ...] = (10, 50, 200)
    threads: tuple[int, ...] = (1, 2)
    requests: int = 200
    warmup: int = 20
    cold_runs: int = 5
    ingest_items: int = 2_000
    backends: tuple[str, ...] = ()  # () = every backend the bundle has; named ones must exist
    workdir: str | None = None

    @classmethod
    def quick(cls, **kw: Any) -> BenchConfig:
        """Finishes in about a minute: 1k items, short histories, one thread, few repetitions."""
        base = cls(
            sizes=(1_000,), histories=(10, 50), threads=(1,), requests=40, warmup=5, cold_runs=2, ingest_items=300
        )
        return replace(base, **kw)


# --- statistics ---------------------------------------------------------------------------------------
def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """n, mean, min, max and the 50th/95th/99th percentiles (linear interpolation, as numpy's default)."""
    a = np.asarray(list(samples), dtype=np.float64)
    if a.size == 0:
        raise ValueError("no samples")
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


# --- machine --------------------------------------------------------------------------------------------
def _cpu() -> dict[str, Any]:
    info: dict[str, Any] = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if line.startswith("model name") and info["model"] in ("", platform.machine(), platform.processor()):
            info["model"] = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            wanted = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
            info["flags"] = [f for f in wanted if f in flags]
            break
    return info


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def machine_info(bundle_path: Path | None = None) -> dict[str, Any]:
    import hashlib
    import sqlite3

    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    out: dict[str, Any] = {
        "cpu": _cpu(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            m: _version(m)
            for m in ("ondevice-rec", "numpy", "onnxruntime", "tokenizers", "llama-cpp-python", "presidio-analyzer")
        },
    }
    if bundle_path is not None:
        manifest = Path(bundle_path) / "manifest.json"
        out["bundle"] = {
            "path": str(bundle_path),
            "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None,
        }
    return out


# --- workers (run in subprocesses) ----------------------------------------------------------------------
def _peak_rss_mb() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(r / (2**20 if sys.platform == "darwin" else 1024), 1)


def _timed(fn: Callable[[], Any], warmup: int, n: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _build_store(db: Path, bundle: str | None, size: int, histories: Sequence[int]) -> dict[str, Any]:
    from .recommender import Recommender
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
    from .ranking import RankingConfig
    from .recommender import Recommender

    rows = []
    with Recommender.open(p["db"], bundle=p["bundle"], threads=p["threads"]) as rec:
        search = (
            "prefilter" if rec.config.prefilter_min_items and p["size"] >= rec.config.prefilter_min_items else "exact"
        )
        for h in p["histories"]:
            user = HISTORY_USERS.format(h)
            lat = _timed(lambda u=user: rec.recommend(u, k=10), p["warmup"], p["requests"])
            params = {"items": p["size"], "history": h, "threads": p["threads"]}
            extra: dict[str, Any] = {"search": search}
            if search == "prefilter":  # recall@100 of the coarse-to-fine search against exact scoring
                got = {r.item_id for r in rec.recommend(user, k=100, diversity=0.0)}
                rec.config = replace(rec.config, prefilter_min_items=0)
                want = {r.item_id for r in rec.recommend(user, k=100, diversity=0.0)}
                exact = _timed(lambda u=user: rec.recommend(u, k=10), 2, max(10, p["requests"] // 4))
                rec.config = replace(rec.config, prefilter_min_items=RankingConfig().prefilter_min_items)
                extra["recall_at_100_vs_exact"] = round(len(got & want) / max(1, len(want)), 4)
                extra["exact_p50_ms"] = round(float(np.median(exact)), 3)
                extra["exact_p95_ms"] = round(float(np.percentile(exact, 95)), 3)
            rows.append(result("recommend", params, lat, keep=True, **extra))
    for r in rows:
        r["peak_rss_mb"] = _peak_rss_mb()
    return rows


def _w_ingest(p: dict[str, Any]) -> list[dict[str, Any]]:
    from .recommender import Recommender
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
        from .privacy.masking import Redactor
    except ImportError as e:  # pragma: no cover - depends on extras
        return [{"scenario": "redact", "params": {}, "skipped": f"privacy extra not installed ({e})"}]
    from .errors import MissingExtraError

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
    from .backends.onnx_text import OnnxTextEncoder
    from .bundle import load_bundle
    from .synthetic import synthetic_items

    b = load_bundle(p["bundle"])
    texts = [it["title"] + ". " + it.get("text", "") for it in synthetic_items(64, seed=2)]
    rows: list[dict[str, Any]] = []
    wanted = set(p["backends"])
    for name in ("onnx-text-fp32", "onnx-text-int8"):
        if name not in wanted:
            continue
        enc = OnnxTextEncoder(b, threads=p["threads"], precision=name.rsplit("-", 1)[1])
        lat = _timed(lambda e=enc: e.embed(texts), 2, p["reps"])
        rows.append(
            result(
                "backends",
                {"backend": name, "per": "candidate (item text embedding)"},
                [x * 1000 / 64 for x in lat],
                unit="us",
            )
        )
        enc.close()
    spec = b.manifest.get("two_tower")
    if spec:
        from .backends.two_tower import TwoTowerRanker

        for prec in ("fp32", "int8"):
            name = f"onnx-user-{prec}"
            if name not in wanted or prec not in spec["user_tower"]:
                continue
            rk = TwoTowerRanker(b, threads=p["threads"], precision=prec)
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
    llm = b.manifest.get("llm_ranker")
    if llm and "gguf" in wanted:
        from .backends.llm_rerank import LlamaRanker
        from .templates import ranker_prefix, ranker_suffix

        ranker = LlamaRanker(str(b.verified_path(llm["file"])), threads=p["threads"])
        prefix = ranker_prefix([f"Movie number {i} (1995)" for i in range(10)])
        sufs = [ranker_suffix(f"Candidate film {i} (1997)") for i in range(20)]
        lat = _timed(lambda: ranker.score(prefix, sufs), 1, max(3, p["reps"] // 4))
        rows.append(
            result(
                "backends",
                {"backend": f"gguf-{llm.get('type', '?').lower()}", "per": "candidate (LLM Yes/No, prefix reused)"},
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
    from .backends.llm_rerank import LlamaRanker
    from .bundle import load_bundle
    from .templates import ranker_prefix, ranker_suffix

    b = load_bundle(p["bundle"])
    llm = b.manifest.get("llm_ranker")
    if not llm:
        return [{"scenario": "rerank", "params": {}, "skipped": "bundle has no GGUF LLM ranker (--formats gguf)"}]
    ranker = LlamaRanker(str(b.verified_path(llm["file"])), threads=p["threads"])
    prefix = ranker_prefix([f"Movie number {i}: a story about people ({1980 + i})" for i in range(10)])
    sufs = [ranker_suffix(f"Candidate film {i} (1997)") for i in range(p["top"])]
    rows = []
    for mode in ("prefix-reuse", "no-reuse", "batched"):
        fn: Callable[[], Any]
        if mode == "batched":
            if not hasattr(ranker, "score_batched"):
                continue
            fn = lambda: ranker.score_batched(prefix, sufs)  # noqa: E731
        else:
            fn = lambda m=mode: ranker.score(prefix, sufs, reuse_prefix=m == "prefix-reuse")  # noqa: E731
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

WORKERS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "recommend": _w_recommend,
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
    else:
        out = WORKERS[name](params)
    sys.stdout.write("\n@@RESULT@@" + json.dumps(out) + "\n")


# --- orchestration --------------------------------------------------------------------------------------
def _run_worker(name: str, params: dict[str, Any], timeout: float = 3600) -> Any:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.bench", name, json.dumps(params)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if proc.returncode != 0 or "@@RESULT@@" not in proc.stdout:
        if proc.returncode == -signal.SIGINT:  # Ctrl-C reached the worker first
            raise KeyboardInterrupt
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"benchmark unit {name!r} failed: {tail[0]}")
    return json.loads(proc.stdout.rsplit("@@RESULT@@", 1)[1])


def _check(cfg: BenchConfig, manifest: dict[str, Any]) -> tuple[str, ...]:
    unknown = set(cfg.scenarios) - set(SCENARIOS)
    if unknown:
        raise BenchError(f"unknown scenario(s) {', '.join(sorted(unknown))} (choose from {', '.join(SCENARIOS)})")
    if not cfg.sizes or any(s < 20 for s in cfg.sizes):
        raise BenchError("catalogue sizes must be at least 20 items")
    have = available_backends(manifest)
    missing = [b for b in cfg.backends if b not in have]
    if missing:
        raise BenchError(f"the bundle has no {', '.join(missing)} backend (it has: {', '.join(have) or 'none'})")
    dim = int((manifest.get("two_tower") or {}).get("dim") or manifest.get("text_encoder", {}).get("dim") or 384)
    need = max(cfg.sizes) * (dim * 4 * 3 + 2048)  # vectors (catalogue + scores + copies) and per-item rows
    try:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        avail = None
    if avail is not None and need > avail * 0.8:
        raise BenchError(
            f"a catalogue of {max(cfg.sizes):,} items needs about {need / 2**30:.1f} GiB; "
            f"this machine has {avail / 2**30:.1f} GiB available"
        )
    return tuple(cfg.backends) or have


def available_backends(manifest: dict[str, Any]) -> tuple[str, ...]:
    files = manifest.get("files", {})
    out = []
    if manifest.get("kind") in ("text-embedder", "two-tower") and "model.onnx" in files:
        out.append("onnx-text-int8")
    if (manifest.get("text_encoder") or {}).get("model_fp32"):
        out.append("onnx-text-fp32")
    for prec in ("fp32", "int8"):
        if prec in ((manifest.get("two_tower") or {}).get("user_tower") or {}):
            out.append(f"onnx-user-{prec}")
    if manifest.get("llm_ranker"):
        out.append("gguf")
    return tuple(out)


def run_bench(
    cfg: BenchConfig, *, progress: Callable[[str], None] = lambda m: None, partial: Callable[[dict], None] | None = None
) -> dict[str, Any]:
    """Run every selected scenario; return the report (``interrupted`` is true after Ctrl-C)."""
    from .bundle import default_bundle_path, load_bundle

    bundle = load_bundle(cfg.bundle)
    bundle_arg = str(bundle.path) if cfg.bundle else None
    backends = _check(cfg, bundle.manifest)
    work = Path(cfg.workdir) if cfg.workdir else Path(tempfile.gettempdir()) / "odrec-bench"
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(bundle.path if cfg.bundle else default_bundle_path()),
        "config": {**asdict(cfg), "backends": list(backends)},
        "bundle": {
            "name": bundle.manifest.get("name"),
            "kind": bundle.manifest.get("kind"),
            "files_mb": {k: round(v["size"] / 1e6, 3) for k, v in bundle.manifest.get("files", {}).items()},
            "total_mb": round(sum(v["size"] for v in bundle.manifest.get("files", {}).values()) / 1e6, 2),
        },
        "results": [],
        "setup": [],
        "interrupted": False,
    }
    tag = (bundle.manifest.get("name") or "bundle") + "-" + bundle.bundle_id[:12]

    def add(rows: list[dict[str, Any]]) -> None:
        report["results"].extend(rows)
        if partial is not None:
            partial(report)

    def store(size: int) -> Path:
        db = work / f"store-{tag}-{size}-h{'-'.join(map(str, cfg.histories))}.db"
        if not db.is_file():
            progress(f"building a {size:,}-item store (cached in {work})")
            report["setup"].append(
                _run_worker("build", {"db": str(db), "bundle": bundle_arg, "size": size, "histories": cfg.histories})
            )
        return db

    try:
        if "ingest" in cfg.scenarios:
            progress(f"ingest of {cfg.ingest_items} items")
            with tempfile.TemporaryDirectory(dir=work) as d:
                add(_run_worker("ingest", {"bundle": bundle_arg, "n": cfg.ingest_items, "dir": d}))
        if "recommend" in cfg.scenarios:
            for size in cfg.sizes:
                db = store(size)
                for th in cfg.threads:
                    progress(f"recommend: {size:,} items, {th} thread(s)")
                    p = {
                        "db": str(db),
                        "bundle": bundle_arg,
                        "threads": th,
                        "size": size,
                        "histories": list(cfg.histories),
                        "warmup": cfg.warmup,
                        "requests": cfg.requests,
                    }
                    add(_run_worker("recommend", p))
        if "cold-start" in cfg.scenarios:
            size = 10_000 if 10_000 in cfg.sizes else min(cfg.sizes)
            db = store(size)
            progress(f"cold start x{cfg.cold_runs} ({size:,} items)")
            first, load = [], []
            for _ in range(cfg.cold_runs):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        COLD_START,
                        repr(time.time()),
                        str(db),
                        bundle_arg or "",
                        HISTORY_USERS.format(cfg.histories[-1]),
                    ],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "HF_HUB_OFFLINE": "1"},
                )
                if out.returncode != 0:
                    raise BenchError(f"cold-start run failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
                got = json.loads(out.stdout.strip().splitlines()[-1])
                first.append(got["first_s"] * 1000)
                load.append(got["open_s"] * 1000)
            add(
                [
                    result("cold-start", {"items": size, "what": "process start to first recommendation"}, first),
                    result("cold-start", {"what": "Recommender.open (bundle verify + sessions + store)"}, load),
                ]
            )
        if "backends" in cfg.scenarios:
            for th in cfg.threads:
                progress(f"per-candidate cost of {', '.join(backends)} ({th} thread(s))")
                p = {
                    "bundle": bundle_arg,
                    "backends": list(backends),
                    "threads": th,
                    "reps": max(8, cfg.requests // 5),
                    "candidates": 1000,
                }
                add(_run_worker("backends", p))
        if "rerank" in cfg.scenarios and "gguf" in backends:
            for th in cfg.threads:
                progress(f"LLM re-rank of 20 ({th} thread(s))")
                add(
                    _run_worker(
                        "rerank", {"bundle": bundle_arg, "threads": th, "top": 20, "reps": max(3, cfg.requests // 20)}
                    )
                )
        if "redact" in cfg.scenarios:
            progress("egress redaction of 1 KB")
            add(_run_worker("redact", {"n": max(10, cfg.requests // 4)}))
    except KeyboardInterrupt:
        report["interrupted"] = True
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return report


# --- outputs --------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def markdown(report: dict[str, Any], comparison: list[dict[str, Any]] | None = None) -> str:
    m = report["machine"]
    lines = [
        "# odrec bench",
        "",
        f"- CPU: {m['cpu']['model']} ({', '.join(m['cpu']['flags']) or 'no flags read'}); "
        f"{m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; {m.get('memory_gib')} GiB",
        f"- OS: {m['os']}; Python {m['python']}; SQLite {m['sqlite']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- bundle: {report['bundle']['name']} ({report['bundle']['kind']}, {report['bundle']['total_mb']} MB); "
        f"manifest sha256 {(m.get('bundle') or {}).get('manifest_sha256', '?')}",
        f"- started {report['started_at']}, finished {report.get('finished_at', '?')}"
        + ("; **interrupted (partial results)**" if report.get("interrupted") else ""),
        "",
        "| scenario | parameters | unit | p50 | p95 | p99 | n | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        params = ", ".join(f"{k}={v}" for k, v in r.get("params", {}).items())
        if "skipped" in r:
            lines.append(f"| {r['scenario']} | {params} | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {r['scenario']} | {params} | {r['unit']} | {_fmt(r['p50'])} | {_fmt(r['p95'])} | {_fmt(r['p99'])} "
            f"| {r['n']} | {_fmt(r.get('peak_rss_mb', ''))} |"
        )
    ing = [r for r in report["results"] if r["scenario"] == "ingest" and "items_per_s" in r]
    if ing:
        lines += ["", f"Ingest: {ing[0]['items_per_s']} items/s (embedding included)."]
    lines += ["", "Bundle files (MB): " + ", ".join(f"{k} {v}" for k, v in report["bundle"]["files_mb"].items())]
    if comparison:
        lines += [
            "",
            "## Compared with an earlier run (ratio = new p50 / old p50)",
            "",
            "| scenario | parameters | old p50 | new p50 | ratio |",
            "|---|---|---|---|---|",
        ]
        for c in comparison:
            params = ", ".join(f"{k}={v}" for k, v in c["params"].items())
            lines.append(f"| {c['scenario']} | {params} | {_fmt(c['old_p50'])} | {_fmt(c['new_p50'])} | {c['ratio']} |")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Latency vs catalogue size (per thread count and history length) and the latency distribution."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .errors import missing_extra

        raise missing_extra("eval", "matplotlib", "odrec bench --plot draws PNG charts with matplotlib") from None
    rows = [r for r in report["results"] if r["scenario"] == "recommend" and "p50" in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    series: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
    for r in rows:
        p = r["params"]
        series.setdefault((p["threads"], p["history"]), []).append((p["items"], r["p50"], r["p95"]))
    for (th, h), pts in sorted(series.items()):
        pts.sort()
        a.plot([x[0] for x in pts], [x[1] for x in pts], marker="o", label=f"p50, {th} thr, {h} events")
        a.plot([x[0] for x in pts], [x[2] for x in pts], ls="--", alpha=0.6, label=f"p95, {th} thr, {h} events")
    a.set_xscale("log")
    a.set_xlabel("catalogue size (items)")
    a.set_ylabel("recommend(k=10) latency, ms")
    a.set_title(f"{report['bundle']['name']}: latency vs catalogue size")
    a.legend(fontsize=6)
    a.grid(alpha=0.3)
    dist = [r for r in rows if r.get("samples")]
    if dist:
        labels = [f"{r['params']['items'] // 1000}k/{r['params']['history']}ev/{r['params']['threads']}t" for r in dist]
        b.boxplot([r["samples"] for r in dist], showfliers=True)
        b.set_xticks(range(1, len(labels) + 1), labels, rotation=70, fontsize=6)
        b.set_ylabel("ms")
        b.set_title("latency distribution (items/history/threads)")
        b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(
    report: dict[str, Any],
    *,
    json_path: str | os.PathLike[str] | None = None,
    report_path: str | os.PathLike[str] | None = None,
    plot_path: str | os.PathLike[str] | None = None,
    compare_with: dict[str, Any] | None = None,
) -> list[dict[str, Any]] | None:
    comparison = compare(report, compare_with) if compare_with is not None else None
    if comparison is not None:
        report = {**report, "comparison": comparison}
    if json_path:
        _atomic_write(Path(json_path), json.dumps(report, indent=1, sort_keys=True) + "\n")
    if report_path:
        _atomic_write(Path(report_path), markdown(report, comparison))
    if plot_path and any(r["scenario"] == "recommend" and "p50" in r for r in report["results"]):
        plot(report, plot_path)
    return comparison


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = [
    "SCENARIOS",
    "SCHEMA",
    "BenchConfig",
    "BenchError",
    "compare",
    "machine_info",
    "markdown",
    "percentiles",
    "run_bench",
    "write_outputs",
]

if __name__ == "__main__":
    _worker_main()
