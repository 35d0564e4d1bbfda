"""Which language a text is in, as far as PII masking needs to know: the masker has models for English and
French and refuses (fails closed) anything else, naming the languages it supports."""

from __future__ import annotations

import re

SUPPORTED = {"en": "English", "fr": "French"}
_NAMES = {"de": "German", "es": "Spanish", "it": "Italian", "nl": "Dutch", "pt": "Portuguese", **SUPPORTED}

_STOPWORDS = {
    "en": "the and of to in is you that it for was on are with as this be at have from or an by not but what "
    "all were when we there can your which their if do will my one about would so me i he she they them our "
    "has had been who how like just please",
    "fr": "le la les et est une des du pas je vous que qui dans pour sur avec ce sont nous mais au aux "
    "il elle ils on ne plus très mon ma mes son sa ses cette être avoir fait à où j' l' d' m' n' s' c' qu'",
    "de": "der die das und ist nicht ich mit sie ein eine zu den von auf für sich dem auch wir ihr "
    "es im nach wie bei aus noch werden oder aber mein mich",
    "es": "el los las y es una por con para del se lo como pero muy está son yo mi que en su al más "
    "hay tiene este esta también",
    "it": "il gli della che è per non sono questo anche di un una mi ma come ho si ci io le nel alla",
    "nl": "het een en van dat niet ik je zijn ook maar de op te voor met aan er wat hij zij dit",
    "pt": "os as não um uma com para você isso muito que do da em no na se mas por mais",
}
_WORDS = {lang: frozenset(ws.split()) for lang, ws in _STOPWORDS.items()}
_ANY = frozenset().union(*_WORDS.values())
_LETTER = re.compile(r"[^\W\d_]")
_CJK_ADDRESS = re.compile(
    r"[\u3400-\u9fff0-9]{2,}(?:省|市|区|區|县|縣|镇|鎮|路|街|道|巷|弄|号|號|楼|樓|室)[\u3400-\u9fff0-9]*"
)
_TOKEN = re.compile(r"(?:[A-Za-zÀ-ÿ]+['’](?=[A-Za-zÀ-ÿ]))|[A-Za-zÀ-ÿ]+")
# particles inside names and addresses ("Calle de la Paz", "van der Berg") are not evidence of a language
_PARTICLES = frozenset("de del della la le les los las di da do dos das van von der den du des y e et of".split())


def _evidence(text: str) -> list[str]:
    """Lower-cased words that say something about the language: names (capitalised words that are no
    language's function word) and the particles right before them are left out; elisions (j', l') kept."""
    toks = [m.group().replace("’", "'") for m in _TOKEN.finditer(text)]
    keep = [True] * len(toks)
    for i, t in enumerate(toks):
        if t[:1].isupper() and t.lower() not in _ANY:
            keep[i] = False
            j = i - 1
            while j >= 0 and toks[j].lower() in _PARTICLES:
                keep[j] = False
                j -= 1
    return [t.lower() for t, k in zip(toks, keep) if k]


def detect(text: str) -> str:
    """A language code for ``text``: "en", "fr", another ("de", "es", …), "non-latin", or "en" when there is
    too little text to tell (short English-looking fragments, names, numbers)."""
    letters = _LETTER.findall(_CJK_ADDRESS.sub(" ", text))  # an address in CJK script is not the language
    if len(letters) >= 12 and sum(1 for c in letters if c < "\u0250") / len(letters) < 0.7:
        return "non-latin"
    words = _evidence(text)
    if len(words) < 6:
        return "en"
    hits = {lang: sum(w in ws for w in words) for lang, ws in _WORDS.items()}
    best = max(hits, key=lambda k: hits[k])
    if best == "en" or hits[best] < 3 or hits[best] <= 1.5 * hits["en"]:
        return "en"
    return best


def refusal(lang: str) -> str | None:
    """Why a text in ``lang`` cannot be checked, or None when it can."""
    if lang in SUPPORTED:
        return None
    what = "in a non-Latin script" if lang == "non-latin" else f"in {_NAMES.get(lang, lang)}"
    return (
        f"text looks like it is {what}; PII masking supports {' and '.join(SUPPORTED.values())} only, "
        "so nothing was sent"
    )
