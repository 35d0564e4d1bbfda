"""Postal addresses as one unit. Recognizers find pieces of an address (a street line, a postcode, a town); a
postal address is a block — street, unit, town, region, postcode, country — written across lines or commas, and
once one piece is masked the rest identifies the person just as well ("Suite 501", "Riisa", a postcode on its
own line). This module grows each found piece to the address block around it.

A block grows from an *anchor* (a street address or postcode span; a place or person name only when the block it
grows into carries a postcode-sized number or a street or unit word, so "Paris, France" stays two places and
"Rocca (Italy) 68 70" a sports result) over neighbouring parts that look like address
parts: on the anchor's line across commas, and across line breaks when the anchor fills its line. A place
name grows only into a block that carries a number, spans lines, or has three parts or more ("Baner, Pune,
Maharashtra, India"). An address
part is short (at most six words) and made of capitalised words, numbers, postcodes, unit words ("Suite",
"Apt.") and street words and particles written in lower case ("via", "rue", "tér", "de"); a part with other
lower-case words ("and then we went"), a sentence end, or a greeting ends the block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .names import NOT_SURNAMES
from .recognizers import STREET_TYPES

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
_STREET_WORDS = (frozenset(STREET_TYPES.split("|")) | _LOWER_OK | _UNIT_WORDS) - frozenset(
    "de del della dei delle di da do dos das du des la le les los las el van der den ter am an im auf zum zur "
    "bis ter no nr n° c/o park green view point union well key light rest run pass port fall mount bend "
    "dr st ct pl av ave sq mt".split()  # abbreviations that are titles too: "Dr. Mohammed", "St Albans"
)
_POSTCODE_LIKE = re.compile(
    r"(?<![\w.,:/+()-])(?:[A-Z]{1,3}-)?(?!(?:19|20)\d\d(?![\d-]))\d{4,6}(?:-\d{3,4})?(?![\w.,:/()]|-\d)"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b|\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b|(?<![\w-])\d{2}-\d{3}(?![\w-])"
)
_CONNECTORS = frozenset("and of the et y e und en".split())  # inside a part only: "Turks and Caicos Islands"
# words of running text (English, French): a part holding one is prose around an address ("Ship to ...")
_PROSE = (NOT_SURNAMES - _LOWER_OK) | frozenset(
    """
à au aux avec chez dans en est il elle je ma mon ta ton nous vous votre notre par pour que qui sur un une merci
svp ici voici voilà ce cette ces mais ou où donc être avoir fait peux pouvez envoyer livrer nouvelle nouveau
moved move live lives living meet ship send sent deliver please update address new now soon
""".split()
)
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
    if not w or not any(c.isalnum() for c in w):  # "-", "/", "&" between parts of a line
        return True
    if w.isupper() and len(w) > 1 and w.casefold() in _PROSE:  # "THE", "AT" in a headline
        return False
    if _DIGIT.search(w) or not w[0].islower() or w.casefold() in _UNIT_WORDS:
        return True  # numbers, capitalised words, scripts without case (Arabic, CJK), unit words
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
    if not _word_ok(words[0]):
        return False
    # other lower-case words: at most half of a part that starts like an address part ("Seoul street",
    # "Solomianskyi district"); "and then we went" starts with one and is prose
    other = [w for w in words[1:] if not _word_ok(w) and w.casefold() not in _CONNECTORS]
    if any(w.strip(".,'’").casefold() in _PROSE for w in other):
        return False
    return 2 * len(other) <= len(words) and (len(words) > 1 or not other)


def _suffix_part(text: str, a: int, b: int) -> int:
    """The start of the longest run of address words ending at ``b`` within text[a:b] (``b`` when none)."""
    start = b
    for i, m in enumerate(reversed(list(_WORD.finditer(text, a, b)))):
        if i >= _MAX_WORDS or not _word_ok(m.group()) or m.group().casefold() in _CLOSERS:
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
        if tail < comma and (_DIGIT.search(text[tail:comma]) or text[tail].isupper()):  # "I live at Præstevænget 15"
            s = tail
        break
    # forwards
    for _ in range(_MAX_PARTS):
        m = re.match(r"\.?\s*,", text[e:lb])
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


def _snap(text: str, s: int, e: int) -> tuple[int, int]:
    """Grow [s, e) over the address words next to it in its own comma piece ("Avenida de los" → "Avenida de los
    Cerros (Circunvalar) 33", "Phnom Penh" → "Phnom Penh 12301")."""
    la, lb = _line_of(text, s)
    nxt = text.find(",", e, lb)
    end = _prefix_part(text, e, lb if nxt == -1 else nxt)
    if end > e and not text[e:end].strip().endswith("."):
        e = end
    prev = text.rfind(",", la, s)
    start = _suffix_part(text, la if prev == -1 else prev + 1, s)
    if start < s and text[start:s].strip()[:1].isupper():
        s = start
    return s, e


def _address_evidence(text: str) -> bool:
    """Whether text around a place or person name says "postal address": a postcode (four to six digits that
    are not a year, a date, a decimal or part of a phone number; a British or Canadian code) or a street or
    unit word."""
    if _POSTCODE_LIKE.search(text):
        return True
    return any(w.strip(".,()").casefold() in _STREET_WORDS for w in text.split())


def address_blocks(text: str, anchors: Sequence[Anchor]) -> list[tuple[int, int]]:
    """The address blocks grown from ``anchors`` (character ranges of ``text``), one per anchor that grows."""
    out: list[tuple[int, int]] = []
    for a in anchors:
        s, e = a.start, a.end
        for _ in range(3):  # comma pieces can fill a line, and a line's commas can lead further
            s2, e2 = _snap(text, s, e)
            s2, e2 = _grow_on_line(text, s2, e2)
            s2, e2 = _grow_across_lines(text, s2, e2)
            if (s2, e2) == (s, e):
                break
            s, e = s2, e2
        if (s, e) == (a.start, a.end):
            continue
        if a.entity_type not in _STRONG:
            parts = len(re.findall(r"[,\n]", text[s:e])) + 1
            lines = "\n" in text[s:e]
            if not _address_evidence(text[s : a.start] + " " + text[a.end : e]) and (
                a.entity_type != "LOCATION" or (parts < 3 and not lines)
            ):
                continue  # "Paris, France": places; "Tom, Ann, Bob": names; "Rocca (Italy) 68 70": scores
        out.append((s, e))
    return out + _bridges(text, sorted(out + [(a.start, a.end) for a in anchors if a.entity_type in _STRONG]))


def _bridges(text: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Address pieces on one line with at most four address-like words between them, joined: the words
    between are the rest of the address ("1600 pennsylvania ave nw washington dc 20500")."""
    out: list[tuple[int, int]] = []
    for (s1, e1), (s2, e2) in zip(ranges, ranges[1:]):
        gap = text[e1:s2]
        if s2 <= e1 or "\n" in gap or _SENTENCE_END.search(gap):
            continue
        ws = _WORD.findall(gap)
        if len(ws) <= 4 and not any(w.strip(".,'’()").casefold() in _PROSE for w in ws):
            out.append((s1, max(e1, e2)))
    return out
