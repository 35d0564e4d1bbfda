"""``odrec demo``: a guided tour on the shipped demo catalog and the shipped default bundle."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .inputs.items import demo_items
from .recommender import Recommender

DAY = 86400.0


def _show(console: Console, title: str, recs: list) -> None:
    t = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    t.add_column("#", justify="right")
    t.add_column("title")
    t.add_column("why")
    for i, r in enumerate(recs, 1):
        t.add_row(str(i), r.title, r.reason)
    console.print(t)


def db_files_contain(db: Path, needle: bytes) -> dict[str, int]:
    """Occurrences of ``needle`` in the database file and its WAL/SHM companions."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(db) + suffix)
        out[p.name] = p.read_bytes().count(needle) if p.exists() else 0
    return out


def run_demo(db: Path | None = None) -> None:
    console = Console()
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="odrec-demo-")
        db = Path(tmp.name) / "demo.db"
    user = "sam@example.org"
    try:
        t0 = time.perf_counter()
        with Recommender.open(db) as rec:
            console.print(
                f"[bold]ondevice-rec demo[/] — store {db}, bundle {rec.bundle.manifest.name} "
                f"(opened in {time.perf_counter() - t0:.2f}s)"
            )
            t0 = time.perf_counter()
            n = rec.add_items(demo_items())
            console.print(f"Embedded {n} catalog items on this device in {time.perf_counter() - t0:.2f}s.\n")

            _show(console, "1. Before any consent: nothing personal is used", rec.recommend(user, k=3))

            rec.consent(user).grant("personalization")
            profile = "I love hard science fiction and space exploration, no horror"
            rec.set_profile(user, profile)
            _show(console, f"2. Cold start from a profile only: “{profile}”", rec.recommend(user, k=5))

            now = time.time()
            for i, item in enumerate(["scie-07", "scie-15", "scie-12"]):
                rec.record(user, item, kind="like", at=now - (20 - i) * DAY)
            rec.record(user, "horr-11", kind="dislike", at=now - 18 * DAY)
            for i, item in enumerate(["cook-01", "cook-09", "cook-15", "cook-07"]):
                rec.record(user, item, kind="like", at=now - (3 - i * 0.5) * DAY)
            _show(
                console,
                "3. Taste shifts: three sci-fi likes weeks ago, four recent vegetarian-cooking likes",
                rec.recommend(user, k=5),
            )

            for item in ["jazz-02", "jazz-15", "jazz-19"]:
                rec.record(user, item, kind="like", at=now - 10 * DAY, context={"time": "evening", "device": "mobile"})
            _show(
                console,
                "4. Context: in the evening on mobile (where Sam listened to jazz)",
                rec.recommend(user, k=5, context={"time": "evening", "device": "mobile"}),
            )
            _show(
                console,
                "5. Same request with diversity=0.7",
                rec.recommend(user, k=5, diversity=0.7, context={"time": "evening", "device": "mobile"}),
            )

            data = rec.export_user(user)
            counts = ", ".join(f"{k}: {len(v)}" for k, v in data.items() if isinstance(v, list))
            console.print(f"\n6. [bold]Export[/] (GDPR Art. 15/20): everything held about {user} → {counts}")

            result = rec.forget_user(user)
            console.print(f"7. [bold]Erasure[/] (GDPR Art. 17): {sum(result['rows_deleted'].values())} rows deleted.")
        hits = db_files_contain(db, user.encode()) | {
            f"{k} (profile text)": v for k, v in db_files_contain(db, profile.encode()).items()
        }
        console.print(
            "   Raw bytes of the database files still containing the user id or profile: "
            + ", ".join(f"{k}={v}" for k, v in hits.items())
        )
        console.print("\nEverything above ran on this device; nothing was sent anywhere.")
    finally:
        if tmp is not None:
            tmp.cleanup()
