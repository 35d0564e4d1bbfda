"""Public text the egress gate knows: the app's own catalogue. Names, places and titles inside it are
catalogue content, not a user's personal data, so soft entities found inside a catalogue title or inside a
whole catalogue sentence quoted in a payload are not masked (structured identifiers always are). A place a
user merely mentions is still masked: only exact catalogue phrases and sentences are exempt."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_SENT = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"\w+", re.UNICODE)
_KEY = 4  # sentences are found by their first four words


@dataclass
class KnownText:
    phrases: dict[str, set[str]] = field(default_factory=dict)  # word → lower-case titles containing it
    # hash of a sentence's first four words → {(hash of all its words, number of words)}
    sentences: dict[int, set[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def build(cls, phrases: Iterable[str] = (), texts: Iterable[str] = ()) -> KnownText:
        k = cls()
        for p in phrases:
            low = " ".join(p.lower().split())
            if len(low) < 2:
                continue
            for w in set(_WORD.findall(low)):
                k.phrases.setdefault(w, set()).add(low)
        for t in texts:
            for m in _SENT.finditer(t):
                words = _WORD.findall(m.group().lower())
                if len(words) >= 5:  # a sentence, not a fragment that could be anything
                    k.sentences.setdefault(hash(tuple(words[:_KEY])), set()).add((hash(tuple(words)), len(words)))
        return k

    def zones(self, text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Character ranges of ``text`` that quote known catalogue content, around the given spans."""
        low = text.lower()
        out: list[tuple[int, int]] = []
        if self.sentences:
            toks = list(_WORD.finditer(low))
            words = [m.group() for m in toks]
            for i in range(len(words) - _KEY + 1):
                starts = self.sentences.get(hash(tuple(words[i : i + _KEY])))
                for h, n in starts or ():
                    if i + n <= len(words) and hash(tuple(words[i : i + n])) == h:
                        out.append((toks[i].start(), toks[i + n - 1].end()))
        if self.phrases:
            for s, e in spans:
                titles: set[str] = set().union(*(self.phrases.get(w, set()) for w in _WORD.findall(low[s:e])))
                for p in titles:
                    i = low.find(p, max(0, s - len(p)), e + len(p))
                    while i != -1 and i < e:
                        if i + len(p) > s:
                            out.append((i, i + len(p)))
                        i = low.find(p, i + 1, e + len(p))
        return out
