"""The lookup key of a title: what two spellings of one title have in common ("The Usual Suspects (1995)",
"usual suspects", "Usual Suspects, The" → ``usual suspects``). Plain text code, stored with each item so that a
profile's words are matched against the catalogue with an index, whatever its size."""

from __future__ import annotations

import re
import unicodedata

# articles a catalogue moves to the end ("Usual Suspects, The"; MovieLens, library catalogues) or that people
# leave out when they name a title: dropped from the key on both sides
_ARTICLES = frozenset("the a an la le les l el los las il lo gli der die das den ein eine de het".split())
_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_PAREN = re.compile(r"\([^()]*\)")
_MOVED = re.compile(r"^(.*),\s*(\w+)$")
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def split_year(title: str) -> tuple[str, int | None]:
    """("Heat (1995)" → ("Heat", 1995)): a trailing year in parentheses, as catalogues write it."""
    m = _YEAR.search(title)
    if m is None:
        return title, None
    return title[: m.start()], int(m.group(1))


def title_key(title: str) -> str:
    """Lower case, accents and punctuation dropped, "&" read as "and", parenthesised parts (year, original
    title) dropped, a leading or moved-to-the-end article dropped."""
    text, _ = split_year(title.strip())
    text = _PAREN.sub(" ", text).strip()
    moved = _MOVED.match(text)
    if moved and moved.group(2).lower() in _ARTICLES:
        text = moved.group(1)
    text = unicodedata.normalize("NFKD", text.replace("&", " and "))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = _WORDS.findall(text)
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def short_title_key(title: str) -> str:
    """The key of what people call a long title: the part before its subtitle ("Dr. Strangelove or: How I
    Learned…" → ``dr strangelove``, "Star Wars: Episode IV - A New Hope" → ``star wars``); "" when the title has no
    subtitle."""
    text, _ = split_year(title.strip())
    text = _PAREN.sub(" ", text)
    cut = _SUBTITLE.search(text)
    if cut is None:
        return ""
    short = title_key(text[: cut.start()])
    return short if short and short != title_key(title) else ""


_SUBTITLE = re.compile(r"(?:\s+or)?:\s|\s+[-–—]\s+")
