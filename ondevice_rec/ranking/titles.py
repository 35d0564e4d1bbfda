"""Titles a profile names, resolved against the catalogue ("I loved Toy Story, Heat and Fargo; no horror" →
three items liked), each with its confidence. A resolved title is a pseudo-history: a person who names what
they loved has told the ranker more than any genre word can.

Matching is by :func:`~ondevice_rec.store.title_keys.title_key` (case, accents, punctuation, articles and the year
do not matter), longest span first, then by spelling similarity for a capitalised span that no key matches
("Godfahter" → "Godfather"). A one-word title is taken only where the writing marks it as a name — a capital
letter not at the start of a sentence, or a year after it — and never when the word is one of the catalogue's
own tags: "I loved Her (2013)" names a film, "her acting" and "I'm into Horror" do not.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..store.title_keys import short_title_key, split_year, title_key
from .signals import profile_clauses

MAX_SPAN = 10  # words in the longest title matched
MIN_CONFIDENCE = 0.8
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|&", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?\n]\s*$")
_YEAR_AFTER = re.compile(r"^\s*\(?\s*(\d{4})\s*\)?")


@dataclass(frozen=True)
class Mention:
    """A catalogue item a profile names: ``said`` as written, ``liked`` False in a negative clause."""

    iid: int
    title: str
    said: str
    confidence: float
    liked: bool = True

    def as_row(self) -> list[object]:
        return [self.iid, self.title, self.said, round(self.confidence, 3), self.liked]

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Mention:
        iid, title, said, confidence, liked = row
        return cls(int(iid), str(title), str(said), float(confidence), bool(liked))  # type: ignore[call-overload, arg-type]


Candidate = tuple[int, str, float]  # (iid, title, popularity)


class TitleSource(Protocol):
    """The catalogue's titles by key (the store, or an in-memory table)."""

    def by_key(self, keys: Sequence[str]) -> Mapping[str, Sequence[Candidate]]: ...

    def by_short(self, keys: Sequence[str]) -> Mapping[str, Sequence[Candidate]]:
        """Items whose :func:`~ondevice_rec.store.title_keys.short_title_key` is one of ``keys``."""
        ...

    def near(self, key: str, limit: int) -> Sequence[tuple[str, Candidate]]:
        """Up to ``limit`` (key, candidate) pairs whose key starts with the first letters of ``key``."""
        ...


class TitleTable:
    """An in-memory :class:`TitleSource` over (iid, title, popularity) rows."""

    def __init__(self, rows: Iterable[Candidate]) -> None:
        self._keys: dict[str, list[Candidate]] = {}
        self._short: dict[str, list[Candidate]] = {}
        for row in rows:
            key, short = title_key(row[1]), short_title_key(row[1])
            if key:
                self._keys.setdefault(key, []).append(row)
            if short:
                self._short.setdefault(short, []).append(row)
        self._sorted = sorted(self._keys)

    def by_key(self, keys: Sequence[str]) -> Mapping[str, Sequence[Candidate]]:
        return {k: self._keys[k] for k in keys if k in self._keys}

    def by_short(self, keys: Sequence[str]) -> Mapping[str, Sequence[Candidate]]:
        return {k: self._short[k] for k in keys if k in self._short}

    def near(self, key: str, limit: int) -> Sequence[tuple[str, Candidate]]:
        import bisect

        prefix = key[:NEAR_PREFIX]
        out: list[tuple[str, Candidate]] = []
        at = bisect.bisect_left(self._sorted, prefix)
        while at < len(self._sorted) and self._sorted[at].startswith(prefix) and len(out) < limit:
            out.extend((self._sorted[at], c) for c in self._keys[self._sorted[at]])
            at += 1
        return out[:limit]


SHORT_CONFIDENCE = 0.85  # "Star Wars" for the most popular of the titles it begins
NEAR_PREFIX = 3  # a misspelt title still starts with its first letters
NEAR_LIMIT = 200
FUZZY_RATIO = 0.88
FUZZY_MIN_CHARS = 8
FUZZY_SPAN = 6
FUZZY_BUDGET = 20_000


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


def resolve_titles(
    text: str,
    source: TitleSource,
    *,
    reserved: Iterable[str] = (),
    min_confidence: float = MIN_CONFIDENCE,
) -> list[Mention]:
    """The catalogue items ``text`` names, in the order written, each once. ``reserved``: words that are never
    a title on their own (the catalogue's tags: genres)."""
    reserved_keys = {title_key(r) for r in reserved}
    found: list[Mention] = []
    seen: set[int] = set()
    near: dict[str, Sequence[tuple[str, Candidate]]] = {}
    budget = [FUZZY_BUDGET]  # spelling comparisons left for this text: a long profile costs a bounded time
    for clause, liked in profile_clauses(text):
        tokens = [_Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(clause)]
        spans = {
            (i, j): title_key(clause[tokens[i].start : tokens[j - 1].end])
            for i in range(len(tokens))
            for j in range(i + 1, min(len(tokens), i + MAX_SPAN) + 1)
        }
        keys = sorted({k for k in spans.values() if k})
        hits, short = source.by_key(keys), source.by_short(keys)
        i = 0
        while i < len(tokens):
            m = _longest(clause, tokens, i, spans, hits, short, reserved_keys)
            m = m or _fuzzy(clause, tokens, i, source, near, budget)
            if m is None:
                i += 1
                continue
            j, cand, said, confidence = m
            if cand[0] not in seen and confidence >= min_confidence:
                seen.add(cand[0])
                found.append(Mention(cand[0], cand[1], said, confidence, liked))
            i = j
    return found


def _longest(
    clause: str,
    tokens: Sequence[_Token],
    i: int,
    spans: Mapping[tuple[int, int], str],
    hits: Mapping[str, Sequence[Candidate]],
    short: Mapping[str, Sequence[Candidate]],
    reserved: set[str],
) -> tuple[int, Candidate, str, float] | None:
    """The longest span from token ``i`` that is a title's key (or, at a lower confidence, what people call a
    title with a subtitle)."""
    for j in range(min(len(tokens), i + MAX_SPAN), i, -1):
        key = spans[(i, j)]
        cands, scale = hits.get(key), 1.0
        if not cands:
            cands, scale = short.get(key), SHORT_CONFIDENCE
        if not cands:
            continue
        year = _year_after(clause, tokens[j - 1].end)
        if key in reserved or (" " not in key and not _reads_as_name(clause, tokens[i:j], year, key)):
            continue
        said = clause[tokens[i].start : tokens[j - 1].end]
        cand, confidence = _pick(cands, year)
        return (j + (1 if year is not None else 0), cand, said, min(confidence, scale))
    return None


def _fuzzy(
    clause: str,
    tokens: Sequence[_Token],
    i: int,
    source: TitleSource,
    near: dict[str, Sequence[tuple[str, Candidate]]],
    budget: list[int],
) -> tuple[int, Candidate, str, float] | None:
    """A span that no key matches, against keys sharing its first letters (``near`` caches them per call):
    capitalised, or of at least ``FUZZY_MIN_CHARS`` letters where it is not ("the godfahter"). A key that is the
    other's prefix is an inflection, not a typo ("romantic" is not "Romantics")."""
    capital = tokens[i].text[:1].isupper()
    if not capital and len(tokens[i].text) < 3:
        return None
    best: tuple[float, int, Candidate] | None = None
    for j in range(min(len(tokens), i + FUZZY_SPAN), i, -1):
        key = title_key(clause[tokens[i].start : tokens[j - 1].end])
        if len(key) < (6 if capital else FUZZY_MIN_CHARS):
            continue
        prefix = key[:NEAR_PREFIX]
        if prefix not in near:
            near[prefix] = source.near(key, NEAR_LIMIT)
        matcher = difflib.SequenceMatcher(None, "", key)  # the span is the cached side
        for k, cand in near[prefix]:
            if budget[0] <= 0:
                return None
            budget[0] -= 1
            matcher.set_seq1(k)
            if matcher.real_quick_ratio() < FUZZY_RATIO or matcher.quick_ratio() < FUZZY_RATIO:
                continue
            ratio = matcher.ratio()
            if (
                ratio >= FUZZY_RATIO
                and (best is None or ratio > best[0])
                and not (k.startswith(key) or key.startswith(k))
            ):
                best = (ratio, j, cand)
    if best is None:
        return None
    ratio, j, cand = best
    return j, cand, clause[tokens[i].start : tokens[j - 1].end], 0.95 * ratio


def _year_after(clause: str, end: int) -> int | None:
    m = _YEAR_AFTER.match(clause[end:])
    return int(m.group(1)) if m and 1870 <= int(m.group(1)) <= 2100 else None


def _reads_as_name(clause: str, span: Sequence[_Token], year: int | None, key: str) -> bool:
    """A one-word title ("Heat", "Her", "Up"; "the Heat") only where the writing marks it as one: a year after
    it, or its word capitalised and not the first of a sentence; written in lower case, only a long word after an
    article ("the godfather"; not "the heat", "a war")."""
    if year is not None:
        return True
    word, first = span[-1], span[0]
    sentence_start = not clause[: first.start].strip() or bool(_SENTENCE_END.search(clause[: first.start]))
    if word.text[:1].isupper():
        return (not sentence_start or len(span) > 1) and len(key) >= 2
    return len(span) > 1 and len(key) >= FUZZY_MIN_CHARS


def _pick(cands: Sequence[Candidate], year: int | None) -> tuple[Candidate, float]:
    """The candidate a title means: the year decides where one is given; else the most popular, with a
    confidence that falls with the number of same-named items."""
    if year is not None:
        dated = [c for c in cands if split_year(c[1])[1] == year]
        if dated:
            return max(dated, key=lambda c: (c[2], -c[0])), 1.0
        return max(cands, key=lambda c: (c[2], -c[0])), 0.7
    best = max(cands, key=lambda c: (c[2], -c[0]))
    return best, 1.0 if len(cands) == 1 else 0.9
