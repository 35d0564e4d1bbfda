"""Exemptions from masking: the one place that decides which soft spans (names, places, addresses) found in a
text are public content rather than a person's data. Structured identifiers (e-mail, phone, card, IBAN, ids)
are never exempt; the masker does not ask.

Two kinds of public text:

- **Phrases** (catalogue titles and tags, terms an app allow-lists): exempt only a span whose whole text equals
  the phrase, compared Unicode-normalised (NFKC) and case-folded, with white space collapsed, the span lying on
  word boundaries and not running on into another masked span. A span that merely contains, overlaps or sits
  inside a phrase is masked: with films called "Her", "Up" or "Us", "Heather Smith", "Hauptstraße 5" and
  "Rua Augusta 20" stay masked.
- **Titles** of the app's own catalogue of two words or more: a span lying inside an occurrence of the title
  written exactly as the catalogue writes it (same letters, same case, on word boundaries) is part of the
  title — "Wuthering" inside "Wuthering Heights", "John Malkovich" inside "Being John Malkovich". A span
  reaching beyond the title ("Dear John Smith" against a film "Dear John") is masked.
- **Passages** (sentences of catalogue descriptions): a span lying inside a quoted passage, matched word for
  word, is catalogue content. Five words are distinctive enough that a user's own sentence does not match one
  by chance.

A place a user merely mentions is still masked: only exact catalogue phrases and passages are exempt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_SENT = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"\w+", re.UNICODE)
_KEY = 4  # passages are found by their first four words
_MIN_PASSAGE_WORDS = 5
EDGE = " \t\n\r.,;:!?\"'()[]{}«»“”‘’<>"  # white space and punctuation a span never starts or ends with
_JOINERS = " \t-–'’"  # what may separate two masked spans that belong to one name ("Heather Smith")


def normalise(text: str) -> str:
    """The form phrases are compared in: NFKC, case-folded, white space collapsed, edge punctuation dropped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(EDGE)


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def _words(text: str) -> list[str]:
    return [_fold(w) for w in _WORD.findall(text)]


@dataclass
class KnownText:
    phrases: set[str] = field(default_factory=set)  # normalised phrases whose exact occurrences are exempt
    titles: dict[str, set[str]] = field(default_factory=dict)  # folded word → multi-word titles, as written
    # hash of a passage's first four words → {(hash of all its words, number of words)}
    passages: dict[int, set[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def build(cls, phrases: Iterable[str] = (), texts: Iterable[str] = (), *, titles: Iterable[str] = ()) -> KnownText:
        """``phrases``: exempt where a span equals one; ``titles``: the same, and multi-word ones also exempt
        what lies inside their exact occurrences; ``texts``: descriptions, whose sentences are passages."""
        k = cls()
        for p in phrases:
            if isinstance(p, str) and len(normalise(p)) >= 2:
                k.phrases.add(normalise(p))
        for title in titles:
            if not isinstance(title, str) or len(normalise(title)) < 2:
                continue
            k.phrases.add(normalise(title))
            written = " ".join(title.split())
            words = _words(written)
            if len(words) >= 2:
                for w in set(words):
                    k.titles.setdefault(w, set()).add(written)
        for t in texts:
            for m in _SENT.finditer(t):
                words = _words(m.group())
                if len(words) >= _MIN_PASSAGE_WORDS:  # a sentence, not a fragment that could be anything
                    k._add_passage(words)
        return k

    def _add_passage(self, words: Sequence[str]) -> None:
        self.passages.setdefault(hash(tuple(words[:_KEY])), set()).add((hash(tuple(words)), len(words)))

    def __bool__(self) -> bool:
        return bool(self.phrases or self.passages or self.titles)

    def _inside_title(self, text: str, s: int, e: int) -> bool:
        if not self.titles:
            return False
        candidates: set[str] = set()
        for w in _words(text[s:e]):
            candidates |= self.titles.get(w, set())
        for title in candidates:
            i = text.find(title, max(0, e - len(title)), s + len(title))
            while i != -1 and i <= s:
                if i + len(title) >= e and _on_word_boundaries(text, i, i + len(title)):
                    return True
                i = text.find(title, i + 1, s + len(title))
        return False

    def _passage_zones(self, text: str) -> list[tuple[int, int]]:
        if not self.passages:
            return []
        toks = list(_WORD.finditer(text))  # offsets stay those of ``text``; words are compared folded
        words = [_fold(m.group()) for m in toks]
        out: list[tuple[int, int]] = []
        for i in range(len(words) - _KEY + 1):
            for h, n in self.passages.get(hash(tuple(words[i : i + _KEY])), ()):
                if i + n <= len(words) and hash(tuple(words[i : i + n])) == h:
                    out.append((toks[i].start(), toks[i + n - 1].end()))
        return out

    def exempt(self, text: str, spans: Sequence[tuple[int, int]], *others: KnownText) -> list[bool]:
        """For each soft span of ``text`` (sorted, non-overlapping): is it public content? ``others`` add
        their phrases and passages (e.g. an app's allow-list beside the catalogue)."""
        everyone = (self, *others)
        zones = [z for k in everyone for z in k._passage_zones(text)]
        out: list[bool] = []
        for i, (s, e) in enumerate(spans):
            if any(a <= s and e <= b for a, b in zones) or any(k._inside_title(text, s, e) for k in everyone):
                out.append(True)
                continue
            phrase = normalise(text[s:e])
            out.append(
                any(phrase in k.phrases for k in everyone)
                and _on_word_boundaries(text, s, e)
                and not _runs_on(text, spans, i)
            )
        return out


def _on_word_boundaries(text: str, s: int, e: int) -> bool:
    return (s == 0 or not text[s - 1].isalnum()) and (e == len(text) or not text[e].isalnum())


def _runs_on(text: str, spans: Sequence[tuple[int, int]], i: int) -> bool:
    """Whether span ``i`` continues into the span before or after it (one name split in two): only white
    space, a hyphen or an apostrophe between them."""
    s, e = spans[i]
    if i > 0:
        gap = text[spans[i - 1][1] : s]
        if len(gap) <= 2 and all(c in _JOINERS for c in gap):
            return True
    if i + 1 < len(spans):
        gap = text[e : spans[i + 1][0]]
        if len(gap) <= 2 and all(c in _JOINERS for c in gap):
            return True
    return False
