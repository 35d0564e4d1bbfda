"""Orchestration of ``odrec bench``: checks the request, builds (cached) stores, runs each unit in a
subprocess and collects the rows; Ctrl-C returns what was measured."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..bundle import Manifest
from ..errors import BenchError
from .config import HISTORY_USERS, REAL_LAYOUTS, SCENARIOS, BenchConfig
from .machine import machine_info
from .stats import result
from .workers import COLD_START

SCHEMA = "odrec-bench/1"


def _run_worker(name: str, params: dict[str, Any], timeout: float = 3600) -> Any:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ondevice_rec.bench.workers", name, json.dumps(params)],
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


def _check(cfg: BenchConfig, manifest: Manifest) -> tuple[str, ...]:
    unknown = set(cfg.scenarios) - set(SCENARIOS)
    if unknown:
        raise BenchError(f"unknown scenario(s) {', '.join(sorted(unknown))} (choose from {', '.join(SCENARIOS)})")
    if not cfg.sizes or any(s < 20 for s in cfg.sizes):
        raise BenchError("catalogue sizes must be at least 20 items")
    for d in cfg.real_data:
        real_layout(Path(d))
    have = available_backends(manifest)
    missing = [b for b in cfg.backends if b not in have]
    if missing:
        raise BenchError(f"the bundle has no {', '.join(missing)} backend (it has: {', '.join(have) or 'none'})")
    dim = manifest.two_tower.dim if manifest.two_tower is not None else manifest.encoder.dim
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


def real_layout(src: Path) -> str:
    """The ``REAL_LAYOUTS`` entry whose two files ``src`` holds (one line naming them when none fits)."""
    for name, ((items, _), (events, _)) in REAL_LAYOUTS.items():
        if (src / items).is_file() and (src / events).is_file():
            return name
    wanted = "; ".join(f"{i} + {e} ({n})" for n, ((i, _), (e, _)) in REAL_LAYOUTS.items())
    raise BenchError(f"--real-data {src}: expected one of: {wanted}")


def available_backends(manifest: Manifest) -> tuple[str, ...]:
    """The backends ``odrec bench --backends`` can measure in this bundle."""
    out = ["onnx-text-int8"]
    if manifest.encoder.model_fp32:
        out.append("onnx-text-fp32")
    if manifest.two_tower is not None:
        out += [f"onnx-user-{p}" for p in ("fp32", "int8") if p in manifest.two_tower.user_tower]
    if manifest.llm_ranker is not None:
        out.append("gguf")
    return tuple(out)


def run_bench(
    cfg: BenchConfig,
    *,
    progress: Callable[[str], None] = lambda m: None,
    partial: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every selected scenario; return the report (``interrupted`` is true after Ctrl-C)."""
    from ..bundle import default_bundle_path, load_bundle

    bundle = load_bundle(cfg.bundle)
    backends = _check(cfg, bundle.manifest)
    work = Path(cfg.workdir) if cfg.workdir else Path(tempfile.gettempdir()) / "odrec-bench"
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(bundle.path if cfg.bundle else default_bundle_path()),
        "config": {**asdict(cfg), "backends": list(backends)},
        "bundle": {
            "name": bundle.manifest.name,
            "kind": bundle.manifest.kind,
            "files_mb": {k: round(v.size / 1e6, 3) for k, v in bundle.manifest.files.items()},
            "total_mb": round(bundle.manifest.size_bytes / 1e6, 2),
        },
        "results": [],
        "setup": [],
        "interrupted": False,
    }
    bench = _Bench(
        cfg, str(bundle.path) if cfg.bundle else None, backends, work,
        (bundle.manifest.name or "bundle") + "-" + bundle.bundle_id[:12], report, progress, partial,
    )  # fmt: skip
    try:
        for scenario, run in _SCENARIOS.items():
            if scenario in cfg.scenarios:
                run(bench)
    except KeyboardInterrupt:
        report["interrupted"] = True
    report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return report


@dataclass
class _Bench:
    """One ``run_bench`` call: its settings, the report it fills and the stores it builds (cached in ``work``)."""

    cfg: BenchConfig
    bundle_arg: str | None  # the bundle path handed to workers; None = the default bundle
    backends: tuple[str, ...]
    work: Path
    tag: str
    report: dict[str, Any]
    progress: Callable[[str], None]
    partial: Callable[[dict[str, Any]], None] | None

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.report["results"].extend(rows)
        if self.partial is not None:
            self.partial(self.report)

    def store(self, size: int) -> Path:
        db = self.work / f"store-{self.tag}-{size}-h{'-'.join(map(str, self.cfg.histories))}.db"
        if not db.is_file():
            self.progress(f"building a {size:,}-item store (cached in {self.work})")
            params = {"db": str(db), "bundle": self.bundle_arg, "size": size, "histories": self.cfg.histories}
            self.report["setup"].append(_run_worker("build", params))
        return db

    def ingest(self) -> None:
        self.progress(f"ingest of {self.cfg.ingest_items} items")
        with tempfile.TemporaryDirectory(dir=self.work) as d:
            self.add(_run_worker("ingest", {"bundle": self.bundle_arg, "n": self.cfg.ingest_items, "dir": d}))
        for src in map(Path, self.cfg.real_data):  # a real catalogue file through the CLI, as a user imports it
            name, opts = REAL_LAYOUTS[real_layout(src)][0]
            args = ["catalog", "import", str(src / name), *opts, "--json"]
            args += ["--bundle", self.bundle_arg] if self.bundle_arg else []
            self.progress(f"odrec {' '.join(args)}")
            with tempfile.TemporaryDirectory(dir=self.work) as d:
                env = {**os.environ, "HF_HUB_OFFLINE": "1", "ODREC_DB": str(Path(d) / "ingest.db")}
                t = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "ondevice_rec.cli", *args], capture_output=True, text=True, env=env
                )
                wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise BenchError(f"odrec catalog import of {src / name} failed: {proc.stderr.strip()[-200:]}")
            got = json.loads(proc.stdout)
            self.add(
                [
                    {
                        "scenario": "ingest",
                        "params": {"data": src.name, "what": "odrec catalog import (embedding included)"},
                        "unit": "items/s",
                        "mean": round(got["written"] / got["seconds"], 1),
                        "min": round(got["written"] / got["seconds"], 1),
                        "n": got["written"],
                        "seconds": got["seconds"],
                        "process_s": round(wall, 2),  # with the process start and the bundle's verification
                    }
                ]
            )

    def recommend(self) -> None:
        cfg = self.cfg
        for size in cfg.sizes:
            db = self.store(size)
            for th in cfg.threads:
                self.progress(f"recommend: {size:,} items, {th} thread(s)")
                p = {
                    "db": str(db),
                    "bundle": self.bundle_arg,
                    "threads": th,
                    "size": size,
                    "histories": list(cfg.histories),
                    "warmup": cfg.warmup,
                    "requests": cfg.requests,
                }
                self.add(_run_worker("recommend", p))

    def real(self) -> None:
        """Latency by history length on real histories, each dataset imported through the CLI as a user would."""
        cfg = self.cfg
        if not cfg.real_data:
            self.add([{"scenario": "real", "params": {}, "skipped": "no real data given (--real-data DIR)"}])
            return
        for d in cfg.real_data:
            src = Path(d)
            db = self.real_store(src, real_layout(src))
            for th in cfg.threads:
                self.progress(f"real histories of {src.name}: {th} thread(s)")
                params = {
                    "db": str(db),
                    "bundle": self.bundle_arg,
                    "threads": th,
                    "data": src.name,
                    "users": cfg.real_users,
                    "requests": cfg.requests,
                    "warmup": cfg.warmup,
                }
                self.add(_run_worker("real", params))

    def real_store(self, src: Path, layout: str) -> Path:
        """A store of ``src`` built by ``odrec catalog import`` and ``odrec events import`` (cached by the files'
        sha256); the commands and their last output line go into the report's setup."""
        files = REAL_LAYOUTS[layout]
        digest = hashlib.sha256()
        for name, _ in files:
            digest.update(hashlib.sha256((src / name).read_bytes()).digest())
        db = self.work / f"real-{self.tag}-{src.name}-{digest.hexdigest()[:16]}.db"
        if db.is_file():
            return db
        tmp = db.with_name(db.name + ".partial")
        for f in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            f.unlink(missing_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ODREC_DB": str(tmp)}
        for (name, opts), what in zip(files, ("catalog", "events")):
            args = [what, "import", str(src / name), *opts, *(["--bundle", self.bundle_arg] if self.bundle_arg else [])]
            self.progress(f"odrec {' '.join(args)}")
            proc = subprocess.run(
                [sys.executable, "-m", "ondevice_rec.cli", *args], capture_output=True, text=True, env=env
            )
            last = (proc.stdout.strip() or proc.stderr.strip()).splitlines()[-1:] or [""]
            if proc.returncode != 0:
                raise BenchError(f"odrec {what} import of {src / name} failed: {last[0]}")
            self.report["setup"].append({"command": "odrec " + " ".join(args), "output": last[0]})
        os.replace(tmp, db)
        return db

    def memory(self) -> None:
        cfg = self.cfg
        for size in cfg.sizes:
            db = self.store(size)
            self.progress(f"memory and start-up: {size:,} items, one process")
            with tempfile.TemporaryDirectory(dir=self.work) as d:
                copy = Path(d) / "copy.db"  # add_items writes: measure on a copy, keep the cached store
                shutil.copyfile(db, copy)
                base = {"db": str(copy), "bundle": self.bundle_arg, "threads": cfg.threads[-1], "size": size}
                for what in ("first open after an import: no vector cache yet", "vector cache in place"):
                    self.add(
                        _run_worker(
                            "start", {**base, "histories": list(cfg.histories), "what": what, "t0": time.time()}
                        )
                    )
                mem = {
                    **base,
                    "histories": list(cfg.histories),
                    "warmup": cfg.warmup,
                    "requests": cfg.requests,
                    "adds": 20,
                    "t0": time.time(),
                }
                self.add(_run_worker("memory", mem))

    def scale(self) -> None:
        """A million real texts in one app process: the ANN search's latency, memory and recall@10."""
        cfg = self.cfg
        if not cfg.scale_data:
            self.add([{"scenario": "scale", "params": {}, "skipped": "no texts given (--scale-data DIR)"}])
            return
        src = Path(cfg.scale_data)
        try:
            meta = json.loads((src / "sources.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BenchError(f"--scale-data {src}: no sources.json of million_texts.py ({e})") from None
        db = self.work / f"scale-{self.tag}-{meta['texts_sha256'][:16]}.db"
        made = db.with_name(db.name + ".build.json")  # what building the cached store measured
        if not db.is_file() or not made.is_file():
            self.progress(f"scale: writing {meta['texts']:,} items and building the ANN index (minutes)")
            job = {"src": str(src), "db": str(db), "bundle": self.bundle_arg, "histories": list(cfg.histories)}
            made.write_text(json.dumps(_run_worker("scale-build", job, timeout=7200)), encoding="utf-8")
        built = json.loads(made.read_text(encoding="utf-8"))
        self.report["setup"].append({"command": f"scale store from {src}", "output": built})
        self.progress(f"scale: {meta['texts']:,} items, one process")
        params = {
            "db": str(db),
            "bundle": self.bundle_arg,
            "threads": cfg.threads[0],
            "size": meta["texts"],
            "histories": list(cfg.histories),
            "requests": cfg.requests,
            "t0": time.time(),
        }
        self.add(_run_worker("scale", params))

    def cold_start(self) -> None:
        cfg = self.cfg
        size = 10_000 if 10_000 in cfg.sizes else min(cfg.sizes)
        db = self.store(size)
        self.progress(f"cold start x{cfg.cold_runs} ({size:,} items)")
        first, load = [], []
        for _ in range(cfg.cold_runs):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    COLD_START,
                    repr(time.time()),
                    str(db),
                    self.bundle_arg or "",
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
        self.add(
            [
                result("cold-start", {"items": size, "what": "process start to first recommendation"}, first),
                result("cold-start", {"what": "Recommender.open (bundle verify + sessions + store)"}, load),
            ]
        )

    def per_candidate(self) -> None:
        for th in self.cfg.threads:
            self.progress(f"per-candidate cost of {', '.join(self.backends)} ({th} thread(s))")
            params: dict[str, Any] = {
                "bundle": self.bundle_arg,
                "backends": list(self.backends),
                "threads": th,
                "reps": max(8, self.cfg.requests // 5),
                "candidates": 1000,
            }
            self.add(_run_worker("backends", params))

    def rerank(self) -> None:
        if "gguf" not in self.backends:
            return
        for th in self.cfg.threads:
            self.progress(f"LLM re-rank of 20 ({th} thread(s))")
            params = {"bundle": self.bundle_arg, "threads": th, "top": 20, "reps": max(3, self.cfg.requests // 20)}
            self.add(_run_worker("rerank", params))

    def redact(self) -> None:
        self.progress("egress redaction of 1 KB")
        self.add(_run_worker("redact", {"n": max(10, self.cfg.requests // 4)}))


# the scenarios in the order they run (every name of config.SCENARIOS; tested)
_SCENARIOS: dict[str, Callable[[_Bench], None]] = {
    "ingest": _Bench.ingest,
    "recommend": _Bench.recommend,
    "real": _Bench.real,
    "memory": _Bench.memory,
    "scale": _Bench.scale,
    "cold-start": _Bench.cold_start,
    "backends": _Bench.per_candidate,
    "rerank": _Bench.rerank,
    "redact": _Bench.redact,
}
