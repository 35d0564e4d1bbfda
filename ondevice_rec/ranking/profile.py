"""A natural-language profile as the ranker uses it: positive and negative clauses ("no horror" pushes
away), each embedded by the bundle's encoder. One implementation for the runtime and the eval harness."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .signals import split_profile
from .templates import profile_clause_text
from .titles import Mention, TitleSource, resolve_titles

if TYPE_CHECKING:
    from ..backends.base import Encoder


@dataclass(frozen=True)
class Profile:
    """A profile's clauses and their vectors in one vector space (``pos``/``neg``: (n_clauses, dim) or None)."""

    positive: list[str]
    negative: list[str]
    pos: np.ndarray | None
    neg: np.ndarray | None
    mentions: tuple[Mention, ...] = ()  # catalogue items the text names (ranking/titles.py)


def read_profile(
    text: str, encoder: Encoder, titles: TitleSource | None = None, reserved: Iterable[str] = ()
) -> Profile:
    """The profile as the ranker uses it: clause vectors, and with ``titles`` the items the text names
    (``reserved``: words never read as a title on their own, the catalogue's tags)."""
    prof = embed_profile(text, encoder)
    if titles is None:
        return prof
    return replace(prof, mentions=tuple(resolve_titles(text, titles, reserved=reserved)))


def embed_profile(text: str, encoder: Encoder) -> Profile:
    pos_c, neg_c = split_profile(text)
    pos_c = [c for c in (profile_clause_text(c) for c in pos_c) if c]
    neg_c = [c for c in (profile_clause_text(c) for c in neg_c) if c]
    pos_v = encoder.profile_vectors(pos_c) if pos_c else None
    neg_v = encoder.profile_vectors(neg_c) if neg_c else None
    return Profile(pos_c, neg_c, pos_v, neg_v)
