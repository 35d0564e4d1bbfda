"""Postal addresses as one unit. Recognizers find pieces of an address (a street line, a postcode, a town); a
postal address is a block — street, unit, town, region, postcode, country — written across lines or commas, and
once one piece is masked the rest identifies the person just as well ("Suite 501", "Riisa", a postcode on its
own line). This module grows each found piece to the address block around it.

A block grows from an *anchor* (a street address or postcode span; a place name only when the block it grows
into carries a number, so "Paris, France" stays two places) over neighbouring parts that look like address
parts: on the anchor's line across commas, and across line breaks when the anchor fills its line. An address
part is short (at most six words) and made of capitalised words, numbers, postcodes, unit words ("Suite",
"Apt.") and street words and particles written in lower case ("via", "rue", "tér", "de"); a part with other
lower-case words ("and then we went"), a sentence end, or a greeting ends the block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_MAX_WORDS = 6
_MAX_PARTS = 6  # parts added on each side of an anchor
_STRONG = frozenset({"STREET_ADDRESS", "POSTCODE"})

# lower-case words an address part may hold: street types and particles of the common layouts, unit words
_LOWER_OK = frozenset(
    """
via viale vicolo piazza piazzale corso largo strada rue avenue av bd boulevard chemin impasse allée quai place
route cours calle avenida paseo plaza carrer camino rua travessa avenida largo estrada rodovia praça
straße strasse str weg gasse platz allee ring damm straat laan plein gracht kade utca út tér körút köz
ulica ul al aleja plac osiedle gatan vägen gata vej gade allé stræde plads tie katu kuja tee iela gatve
ulitsa prospekt pr ul. d. dom kv
de del della dei delle di da do dos das du des la le les los las el van der den ter am an im auf zum zur
bis ter rd st ave apt apartment suite ste unit flat floor fl room rm no nr n° bte bus box po cedex
c/o
""".split()
)
_UNIT_WORDS = frozenset(
    "apt apt. apartment suite ste ste. unit flat floor fl room rm no nr n° bte bus box po pmb #".split()
)
_CLOSERS = frozenset(
    """
thanks thank thx cheers regards best bye merci cordialement danke grazie gracias obrigado bedankt greetings
sincerely yours love hi hello dear
""".split()
)
_CONNECTORS = frozenset("and of the et y e und en".split())  # inside a part only: "Turks and Caicos Islands"
_WORD = re.compile(r"[^\s,;]+")
_DIGIT = re.compile(r"\d")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-ZÀ-Þ¿¡\"“(]|\s*$)")
_LINE_BREAK = re.compile(r"\r?\n")


@dataclass(frozen=True)
class Anchor:
    entity_type: str
    start: int
    end: int


def _word_ok(word: str) -> bool:
    w = word.strip(".()'\"“”’")
    if not w:
        return True
    if _DIGIT.search(w) or w[0].isupper() or w.casefold() in _UNIT_WORDS:
        return True
    return w.casefold() in _LOWER_OK or word.casefold() in _LOWER_OK


def _part_ok(part: str) -> bool:
    """Whether ``part`` (a comma piece or a line, edge punctuation included) can be one part of an address."""
    words = _WORD.findall(part)
    if not words or len(words) > _MAX_WORDS or len(part.strip()) > 60:
        return False
    if words[0].strip(".!,").casefold() in _CLOSERS:
        return False
    core = part.strip().rstrip(".,;")
    if re.search(r"[!?:]", core) or _SENTENCE_END.search(core):
        return False
    inner = words[1:-1]
    return all(_word_ok(w) for w in (words[0], words[-1])) and all(
        _word_ok(w) or w.casefold() in _CONNECTORS for w in inner
    )


def _suffix_part(text: str, a: int, b: int) -> int:
    """The start of the longest run of address words ending at ``b`` within text[a:b] (``b`` when none)."""
    start = b
    for m in reversed(list(_WORD.finditer(text, a, b))):
        if not _word_ok(m.group()) or m.group().casefold() in _CLOSERS:
            break
        start = m.start()
    return start


def _prefix_part(text: str, a: int, b: int) -> int:
    """The end of the longest run of address words starting at ``a`` within text[a:b] (``a`` when none)."""
    end = a
    for i, m in enumerate(_WORD.finditer(text, a, b)):
        word = m.group()
        stop = _SENTENCE_END.search(word + " X")  # "Denmark." ends the sentence when a capital follows
        if i >= _MAX_WORDS or not _word_ok(word.rstrip(".")) or word.casefold() in _CLOSERS:
            break
        end = m.end()
        if stop and _SENTENCE_END.match(text, m.end() - 1):
            end = m.end() - 1
            break
    return end


def _line_of(text: str, pos: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return a, (len(text) if b == -1 else b)


def _grow_on_line(text: str, s: int, e: int) -> tuple[int, int]:
    """Grow [s, e) across commas on its line: whole address-like pieces, then an address-like tail of the piece
    where the address begins and a head of the piece where it ends."""
    la, lb = _line_of(text, s)
    # backwards
    for _ in range(_MAX_PARTS):
        comma = text.rfind(",", la, s)
        if comma == -1 or text[comma + 1 : s].strip():
            break  # no comma right before the span
        prev = text.rfind(",", la, comma)
        piece_start = la if prev == -1 else prev + 1
        if _part_ok(text[piece_start:comma]) and not _SENTENCE_END.search(text[piece_start:comma]):
            s = piece_start + (len(text[piece_start:comma]) - len(text[piece_start:comma].lstrip()))
            continue
        tail = _suffix_part(text, piece_start, comma)
        if tail < comma and _DIGIT.search(text[tail:comma]):  # "I live at Præstevænget 15"
            s = tail
        break
    # forwards
    for _ in range(_MAX_PARTS):
        m = re.match(r"\s*,", text[e:lb])
        if not m:
            break
        piece_start = e + m.end()
        nxt = text.find(",", piece_start, lb)
        piece_end = lb if nxt == -1 else nxt
        piece = text[piece_start:piece_end]
        end_here = _SENTENCE_END.search(piece)
        if not end_here and _part_ok(piece):
            e = piece_start + len(piece.rstrip().rstrip("."))
            continue
        head = _prefix_part(text, piece_start, piece_end)
        if head > piece_start:
            e = head
        break
    return s, e


def _grow_across_lines(text: str, s: int, e: int) -> tuple[int, int]:
    """Grow a span that fills its line(s) over the address-like lines above and below it."""
    la, _ = _line_of(text, s)
    _, lb = _line_of(text, max(s, e - 1))
    if not text[la:s].strip():
        for _ in range(_MAX_PARTS):
            if la == 0:
                break
            pa, pb = _line_of(text, la - 1)
            line = text[pa:pb]
            if not line.strip() or not all(_part_ok(p) for p in line.split(",") if p.strip()):
                break
            s, la = pa + (len(line) - len(line.lstrip())), pa
    if not text[e:lb].strip(" \t.,;"):
        for _ in range(_MAX_PARTS):
            if lb >= len(text):
                break
            na, nb = _line_of(text, lb + 1)
            line = text[na:nb]
            if not line.strip() or not all(_part_ok(p) for p in line.split(",") if p.strip()):
                break
            e, lb = na + len(line.rstrip().rstrip(".")), nb
    return s, e


def address_blocks(text: str, anchors: Sequence[Anchor]) -> list[tuple[int, int]]:
    """The address blocks grown from ``anchors`` (character ranges of ``text``), one per anchor that grows."""
    out: list[tuple[int, int]] = []
    for a in anchors:
        s, e = a.start, a.end
        for _ in range(3):  # comma pieces can fill a line, and a line's commas can lead further
            s2, e2 = _grow_on_line(text, s, e)
            s2, e2 = _grow_across_lines(text, s2, e2)
            if (s2, e2) == (s, e):
                break
            s, e = s2, e2
        if (s, e) == (a.start, a.end):
            continue
        if a.entity_type not in _STRONG:
            outside = text[s : a.start] + text[a.end : e]
            if not _DIGIT.search(outside):
                continue  # "Paris, France": places, not a postal address
        out.append((s, e))
    return out
