"""Synthetic catalogs and users for benchmarks and tests (built from the demo catalog's vocabulary)."""

from __future__ import annotations

import random
from typing import Any

from ..inputs.items import demo_items

_ADJ = [
    "Hidden",
    "Last",
    "Silent",
    "Golden",
    "Broken",
    "Northern",
    "Secret",
    "Little",
    "Endless",
    "Bright",
    "Forgotten",
    "Wild",
    "Second",
    "Midnight",
    "Iron",
    "Paper",
    "Glass",
    "Quiet",
    "Lost",
    "New",
]


def synthetic_items(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` items spread over the demo catalog's topics; each mixes two same-topic descriptions."""
    rng = random.Random(seed)
    base = demo_items()
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for it in base:
        by_topic.setdefault(it["tags"][0], []).append(it)
    topics = sorted(by_topic)
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        a, b = rng.sample(by_topic[topic], 2)
        words = a["title"].split()
        out.append(
            {
                "id": f"syn-{i:06d}",
                "title": f"{rng.choice(_ADJ)} {' '.join(words[-2:])} {i}",
                "text": f"{a['text']} {b['text']}",
                "tags": [topic, a["tags"][1]],
            }
        )
    return out


def synthetic_events(item_ids: list[str], user: str, n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` like/view events of ``user`` on random items, oldest first, one minute apart."""
    import time

    rng = random.Random(seed)
    now = time.time()
    return [
        {
            "user_id": user,
            "item_id": rng.choice(item_ids),
            "kind": rng.choice(["like", "view", "click"]),
            "at": now - (n - i) * 60,
        }
        for i in range(n)
    ]
