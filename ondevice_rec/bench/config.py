"""What ``odrec bench`` measures: scenarios, sizes, repetitions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

SCENARIOS = ("cold-start", "recommend", "memory", "backends", "rerank", "ingest", "redact")
HISTORY_USERS = "bench-h{}"


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
