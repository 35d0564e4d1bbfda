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


_NO_GENRE = ("unknown", "(no genres listed)")


def genre_counts(split: Split) -> Counter[str]:
    """How many catalogue items carry each genre (tags other than "unknown")."""
    return Counter(g for tags in split.item_tags for g in tags if g not in _NO_GENRE)


def lift_genres(split: Split, hist: np.ndarray, genres: int = 2, catalogue: Counter[str] | None = None) -> list[str]:
    """The ``genres`` genres most over-represented in ``hist`` relative to the catalogue (lift; a genre needs two
    of its items there), best first: what a user is "into". ``catalogue``: :func:`genre_counts`, when known."""
    catalogue = genre_counts(split) if catalogue is None else catalogue
    mine: Counter[str] = Counter(g for i in np.asarray(hist).tolist() for g in split.item_tags[i] if g not in _NO_GENRE)
    n_items, n_mine = max(1, split.n_items), max(1, len(hist))
    lift = {g: (c / n_mine) / (catalogue[g] / n_items) for g, c in mine.items() if c >= 2 and catalogue[g]}
    return sorted(lift, key=lambda g: (-lift[g], g))[:genres]


def onboarding_profile(split: Split, u: int, seed: int = 0, titles: int = 3, genres: int = 2) -> str:
    """Cold-start protocol "v2": the profile an onboarding screen collects — ``titles`` titles the user liked
    (drawn at random, seeded per user, from the training history only: never the validation or test item) and
    the ``genres`` genres most over-represented in that history relative to the catalogue (:func:`lift_genres`),
    in words: "I loved Heat (1995), Fargo (1996) and Alien (1979). I'm into Film-Noir and Crime."."""
    hist = np.asarray(split.train[u])
    rng = np.random.default_rng([seed, u])
    picks = rng.choice(hist, min(titles, len(hist)), replace=False) if len(hist) else np.zeros(0, np.int64)
    named = [split.item_title[int(i)].strip() for i in picks]
    top = lift_genres(split, hist, genres)
    text = ""
    if named:
        text = "I loved " + (", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]) + "."
    if top:
        text += (" " if text else "") + "I'm into " + (" and ".join(top)) + "."
    return text or "I like all kinds of movies."


def cold_user_profile(split: Split, u: int, version: str, seed: int = 0) -> str:
    """The profile a profile-only (cold) user gets in protocol ``version`` ("v1": top genres and decade of the
    whole history except the test item; "v2": :func:`onboarding_profile`)."""
    if version == "v2":
        return onboarding_profile(split, u, seed)
    return profile_from_history(split, split.history(u, "test"))


def cold_item_split(split: Split, seed: int, share: float = 0.10) -> tuple[Split, np.ndarray]:
    """Remove ``share`` of the items from training altogether; return the reduced split and the cold items."""
    rng = np.random.default_rng(seed + 7)
    cold = np.zeros(split.n_items, dtype=bool)
    cold[rng.choice(split.n_items, max(1, int(round(share * split.n_items))), replace=False)] = True
    train = [s[~cold[s]] for s in split.train]
    return replace(split, train=train), cold
