"""Evaluation and training scenarios built from a split: simulated profiles of cold users and the cold-item
split (items removed from training altogether). Used by the harness and by export (training on the exact
inputs the harness evaluates)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from .splits import Split


def profile_from_history(split: Split, items: np.ndarray) -> str:
    """Natural-language profile a cold user might write: their most frequent genres and decades."""
    genres: Counter[str] = Counter()
    decades: Counter[str] = Counter()
    for i in items.tolist():
        genres.update(g for g in split.item_tags[i] if g not in ("unknown", "(no genres listed)"))
        title = split.item_title[i].strip()
        if title.endswith(")") and title[-5:-1].isdigit():
            decades[title[-5:-2] + "0s"] += 1
    top_g = [g for g, _ in genres.most_common(3)]
    top_d = [d for d, _ in decades.most_common(1)]
    text = "I like " + (", ".join(top_g[:-1]) + " and " + top_g[-1] if len(top_g) > 1 else (top_g or ["all"])[0])
    text += " movies"
    if top_d:
        text += f", especially from the {top_d[0]}"
    return text + "."


def cold_item_split(split: Split, seed: int, share: float = 0.10) -> tuple[Split, np.ndarray]:
    """Remove ``share`` of the items from training altogether; return the reduced split and the cold items."""
    rng = np.random.default_rng(seed + 7)
    cold = np.zeros(split.n_items, dtype=bool)
    cold[rng.choice(split.n_items, max(1, int(round(share * split.n_items))), replace=False)] = True
    train = [s[~cold[s]] for s in split.train]
    return replace(split, train=train), cold
