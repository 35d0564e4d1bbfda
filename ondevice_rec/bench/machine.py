"""What a benchmark ran on: CPU model and flags, usable CPUs, memory, OS, library versions, bundle."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


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
