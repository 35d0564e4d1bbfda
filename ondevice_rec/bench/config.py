"""What ``odrec bench`` measures: scenarios, sizes, repetitions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

SCENARIOS = ("cold-start", "recommend", "real", "memory", "scale", "backends", "rerank", "ingest", "redact")

# real data the ``real`` scenario imports through the CLI, as a user would: per layout, the catalogue file and
# the events file with the ``odrec catalog import`` / ``odrec events import`` options that read them
REAL_LAYOUTS: dict[str, tuple[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]]] = {
    "movielens": (  # ml-latest-small / ml-25m as downloaded
        ("movies.csv", ("--id-col", "movieId", "--tags-col", "genres", "--tags-sep", "|")),
        ("ratings.csv", ("--user-col", "userId", "--item-col", "movieId", "--value-col", "rating",
                         "--at-col", "timestamp", "--kind", "rating")),
    ),
    "generic": (  # odrec's generic layout (benchmarks/data/amazon_s3rec.py writes it)
        ("items.csv", ("--id-col", "item_id", "--tags-col", "tags", "--tags-sep", "|")),
        ("interactions.csv", ("--user-col", "user_id", "--item-col", "item_id", "--at-col", "timestamp",
                              "--kind", "purchase")),
    ),
}  # fmt: skip
# users are grouped by history length: (lower bound exclusive, upper bound inclusive)
HISTORY_BUCKETS = ((0, 10), (10, 20), (20, 50), (50, 200), (200, 1000), (1000, 10**9))
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
    real_data: tuple[str, ...] = ()  # directories in a REAL_LAYOUTS layout, for the ``real`` scenario
    # a directory made by benchmarks/data/million_texts.py (texts and their vectors), for the ``scale`` scenario
    scale_data: str | None = None
    real_users: int = 12  # users sampled per history bucket (the longest history is always one of them)
    workdir: str | None = None

    @classmethod
    def quick(cls, **kw: Any) -> BenchConfig:
        """Finishes in about a minute: 1k items, short histories, one thread, few repetitions."""
        base = cls(
            sizes=(1_000,), histories=(10, 50), threads=(1,), requests=40, warmup=5, cold_runs=2, ingest_items=300
        )
        return replace(base, **kw)
