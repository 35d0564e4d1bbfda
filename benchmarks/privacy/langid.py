"""Language identification for the egress gate: which texts get masked with which model, and which are refused.

Sentences cut from third-party corpora (the sources and sha256 checks of ``corpora.py``) into texts of 1-2,
3-5, 6-10 and 11-20 words (and whole sentences/posts), detokenised, are given to the old stopword detector
(``stopword_detect``, a copy of the module before lingua) and to ``ondevice_rec.privacy.language.detect``.
Per corpus and length: the share masked with the model of the text's language (English: the English PII tagger;
French: spaCy's French NER; German, Spanish, Italian, Dutch, Portuguese: the European PII tagger), masked with
another language's model, and refused.

    python benchmarks/privacy/langid.py --split dev --explore     # choose the configuration (dev only)
    python benchmarks/privacy/langid.py --split dev --explore-frequencies --out benchmarks/results/privacy
                                                                  # rule 8's grid (dev only)
    python benchmarks/privacy/langid.py --split dev               # old vs new, + load time / latency / RSS
    python benchmarks/privacy/langid.py --split test              # once, at the end (+ rule 8's ablation)

Targets (texts of >= 3 words): pl/ru (no model) refused >= 99 %; English (WNUT-17, BTC, CoNLL-2003, WikiNEuRal
en) refused <= 1 %; the other supported languages masked with their own model >= 98 %, refused otherwise
rather than masked by another language's model where the detector can tell.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from corpora import CORPORA, WIKINEURAL, Source, detokenise, read_source, sentences  # noqa: E402

sys.path.insert(0, str(ROOT))

from ondevice_rec.privacy import language as L  # noqa: E402

# WikiNEuRal languages corpora.py does not list (its benchmark does not use them); same repository and commit
_WN = "CC BY-NC-SA 4.0"
EXTRA = {
    f"wikineural-{lang}": {
        "dev": Source(*WIKINEURAL, f"data/wikineural/{lang}/val.conllu", dev, "conllu", lang, _WN, True),
        "test": Source(*WIKINEURAL, f"data/wikineural/{lang}/test.conllu", test, "conllu", lang, _WN, True),
    }
    for lang, dev, test in (
        (
            "en",
            "d5c2bbcbfd7092ab46057befabe071ee8c68b5b3a0623ca319874c019b6d560d",
            "088187d12574de9120f31fce908ce3c626b349b6b93f20886d5351b936ed0849",
        ),
        (
            "pt",
            "11cf840d3047351c1155a435790670647456ecb09f05631fc74e3841d5194d86",
            "054bc2b585775948c5521ed466b737feb650dfd13f7148470d5ace4b5ce4fb64",
        ),
        (
            "pl",
            "2bfbca18dc501faabdce00d5860978d87dc81d3bbe71e0fdfe709479536982b1",
            "261b9562c761fe188e0faeb35577022a06989c4d8409881b4690545379516699",
        ),
        (
            "ru",
            "a398e8b0477457581c060a767d3423c3d18df30aab7de073de20fd918527ffc7",
            "a71ae42533c536ec9eeeb8085a39d454a7502d3ad48b54e6b53e7057e8572745",
        ),
    )
}
# lingua's published test sentences (news sentences from the Leipzig Wortschatz corpora, kept apart from its
# training documents) for the supported languages and for 41 Latin-script languages the masker has no model for;
# dev = each file's first half, test = its second half
LINGUA = ("pemistahl/lingua-py", "754ce21122c083a7200763015fdaf7cda8d85453")
_LEIPZIG_SHA256 = {
    "en": "195259adae0739723879223bba45420b530a5de0e6ca130904a1d67aba648e4f",
    "fr": "4dda6acddb10fc8f03b2fa71cd066880d6c3b00206bdb34fc654155776435150",
    "de": "a8982aaa6ec4af7bd80995550bbed5cd8b4ec17daa9a7fe04ad7c16944218da9",
    "es": "c1805c5967a99996a51d6f79dcdc5f7ef8f9ef95746ede44825e76758e861507",
    "it": "df5f243297e8308d0dc5aa9d7fa311e0b1df4400ad8abc59e8364e03940cb921",
    "nl": "93abdc6602f52a9c49dd292416703c23db4c2e6ce4189f9a281c884d518108a9",
    "pt": "7e683fdba7429a14b5a9b9883712dbb670c35dc5ed26b0cb312fb29ec3416ce1",
    "af": "86bd0842887244dc7da4ec53901b3312efa56dfb9d043a8f646a6e867ea425ba",
    "az": "59af386171d8f1999b552a6c9a909bd1947945d3f95810dfff85f40776089a39",
    "bs": "02de76d6b1b9f9f61601aad0eefa73963405adb6db0fff2f1420ce23bd6290c4",
    "ca": "31271477a220cc2a25eec68740d06cec638d64c957e6d00674b624c2ee64d66e",
    "cs": "2b2ecfd501e388ff31da0b52fe0e2a84bc308da9a8b1c8117b55a5416f61a384",
    "cy": "1deb93da6cfe4f376f1fc6e656978ba80dc6fa85dad183ef05f5e2b126f9b626",
    "da": "7331eea8d736e52e696e387269078754a84e9fa2ef194ee2c23471d48b64eb21",
    "eo": "41a50c1a3a596fd6c0f0e970d64fdf81ef213045b394fc165a2a85b2a4cb4a8c",
    "et": "196c191c4240b584f6abeb0841b47827d4f0f32cd07a6ace1f4b8a398d657ef7",
    "eu": "c173b9d3558efd54377775f19b76dcbe656834ab96f966fbfe927b812bb1645c",
    "fi": "ac135704defe928e776e126069a9cb1ea1b5a7778d25faa35db4c2ccf5fdb018",
    "ga": "bc83d8e5cbd9d74b1b074ebb7b87f5319ffeb7035db97c38eac789bd54f513dd",
    "hr": "9833c693d3cda5f66b5078b8adb4ecb9af70eeda23ce97189a6c48a3f48d1fbc",
    "hu": "266c2807901544f63eeac1b233eb5f02a70cae8c6fcf836235f687c908ff18dd",
    "id": "8cf3560c6e6123fca5d732476fded7f9c136ff9211729b7d773f5699b434065b",
    "is": "2314c070eebb60447cb48b15c1275bc581006772dcd0cbe3fc9cb6929abfd18b",
    "la": "156997ca061320f63196f560997c559683a1b3bb420879d19d993d10823adccc",
    "lt": "9a20631876473138cba2f12063b1d462e07034d23512dd2faa236477ef3af401",
    "lv": "d49b9676308ba554948a9e5380d860547cdd190371c2ef60ebac6d0640f2ccd0",
    "ms": "d67a010aebd55b85656283d92bd279dfd255c588129cebe0609980ec4045d5bc",
    "nb": "c540fe7cd930439458d2e54600328903636dd8d9c29f727e540aa98aa69dcc7a",
    "nn": "6340501a5bb0b78fe7b457508b6373df7c98c2257ed97108223a87c2c0993bfa",
    "ro": "4f114fc2f21994703e1ba2e45b490c9b7cd1c5964eb03df662363ee262aa4208",
    "sk": "208e01beb3b2404d8aa9edd5b29f6a07fc34397138d9ba6e6a7f6e0748f5e000",
    "sl": "27d4e6c909b3ea2cc81694dfa49ceee8cc401178ce25027c518ec77472bda311",
    "so": "73c3c1566afe06d799161c23d3cfe90cd826bf3aca3ce1a8321d050287d307a8",
    "sq": "2d58cffec41744db2d02d439a216cf72a6940ea38d4ab8253fb85235c1f6dd46",
    "st": "e5a4d36be50ede7cdba8caec5c754031c936e83f2df3ead4c69faf56b781d9cd",
    "sv": "b1f35579e2d15ddc619c708c3c4098c74115b8593f4da34f4ff324b85e35d740",
    "sw": "6ddb8b9419eac1d71dceceb8b39bca85719064d09f518ade7755c06ef6539649",
    "tl": "bc873b53940b905cfb04edee6bd346e7d696ef41908749aeee8f0a3ac8bd0c8e",
    "tn": "c2f8f740eb912ff3e9b70169783f4b3110cc28b61e27c793015a983a82e54015",
    "tr": "f0f1b45555a7ca151eb6e9f3118bee4da97d325c922b514868be5305a802421c",
    "ts": "ee438e027c8641c441a3fa66c821ab98277b5268f540a71d52cfb0e608145855",
    "vi": "84d3f2cef995c20328fd7fefe81a1aa56dc9ffa0c0af57d867347f68c18139c7",
    "xh": "c4ae08355b91ae7a8a13a862ce475f8d5478e815c72d043b9f940c1e1339a1cf",
    "yo": "97190ba581ecd8f234a31257fd29711b655c28e52a37f57992102ce9ac9df118",
    "zu": "07ce7e67bd22a49d65cf854608babaa99b2a254442f3669ece76d5f6d322cc68",
    "lg": "685c93451acfe37e92931e5050935ac298c09d0b71790c868cdd95ede78399fc",
    "mi": "471504b8fcf623a93f258236425dc9c748b10ae4fbb8b0aedcbd9eebb51ccfdc",
    "sn": "24bea7c769e34ad4845deaaea79ea462d899af4a27f0aa25ada54fb9d38dc7de",
    "pl": "2eb682cdccb47b44a3feff4db6e997710985d7c741d6ac6260f99bbdf77a669f",
}
_LEIPZIG = "Leipzig Corpora Collection (via lingua-py's test data, Apache-2.0 repository)"
OTHER_LANGUAGES = tuple(lang for lang in _LEIPZIG_SHA256 if lang not in ("pl", *L.SUPPORTED))
EXTRA.update(
    {
        f"leipzig-{lang}": {
            split: Source(*LINGUA, f"language-testdata/sentences/{lang}.txt", sha, "lines", lang, _LEIPZIG, False, part)
            for split, part in (("dev", (0.0, 0.5)), ("test", (0.5, 1.0)))
        }
        for lang, sha in _LEIPZIG_SHA256.items()
    }
)
ORDER = [
    "wnut17",
    "btc",
    "conll2003-en",
    "wikineural-en",
    "wikineural-fr",
    "conll2003-de",
    "wikineural-de",
    "conll2002-es",
    "wikineural-es",
    "wikineural-it",
    "conll2002-nl",
    "wikineural-nl",
    "wikineural-pt",
    "wikineural-pl",
    "wikineural-ru",
    *(f"leipzig-{lang}" for lang in _LEIPZIG_SHA256),
]
BUCKETS = {"1-2": (1, 2), "3-5": (3, 5), "6-10": (6, 10), "11-20": (11, 20), "whole": (3, 10_000)}
SCORED = ("3-5", "6-10", "11-20", "whole")  # the targets are on >= 3 words


# --- the detector before lingua (copied from ondevice_rec/privacy/language.py as it was), for comparison ----
_OLD_STOPWORDS = {
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
_OLD_WORDS = {lang: frozenset(ws.split()) for lang, ws in _OLD_STOPWORDS.items()}
_OLD_ANY = frozenset().union(*_OLD_WORDS.values())
_OLD_LETTER = re.compile(r"[^\W\d_]")
_OLD_CJK_ADDRESS = re.compile(
    r"[\u3400-\u9fff0-9]{2,}(?:省|市|区|區|县|縣|镇|鎮|路|街|道|巷|弄|号|號|楼|樓|室)[\u3400-\u9fff0-9]*"
)
_OLD_TOKEN = re.compile(r"(?:[A-Za-zÀ-ÿ]+['’](?=[A-Za-zÀ-ÿ]))|[A-Za-zÀ-ÿ]+")
_OLD_PARTICLES = frozenset("de del della la le les los las di da do dos das van von der den du des y e et of".split())


def _old_evidence(text: str) -> list[str]:
    toks = [m.group().replace("’", "'") for m in _OLD_TOKEN.finditer(text)]
    keep = [True] * len(toks)
    for i, t in enumerate(toks):
        if t[:1].isupper() and t.lower() not in _OLD_ANY:
            keep[i] = False
            j = i - 1
            while j >= 0 and toks[j].lower() in _OLD_PARTICLES:
                keep[j] = False
                j -= 1
    return [t.lower() for t, k in zip(toks, keep) if k]


def stopword_detect(text: str) -> str:
    """The old rule: stopword counts, and "en" below 6 evidence words."""
    letters = _OLD_LETTER.findall(_OLD_CJK_ADDRESS.sub(" ", text))
    if len(letters) >= 12 and sum(1 for c in letters if c < "\u0250") / len(letters) < 0.7:
        return "non-latin"
    words = _old_evidence(text)
    if len(words) < 6:
        return "en"
    hits = {lang: sum(w in ws for w in words) for lang, ws in _OLD_WORDS.items()}
    best = max(hits, key=lambda k: hits[k])
    if best == "en" or hits[best] < 3 or hits[best] <= 1.5 * hits["en"]:
        return "en"
    return best


# --- texts ----------------------------------------------------------------------------------------------
def sources(split: str) -> list[tuple[str, Source]]:
    table = {**CORPORA, **EXTRA}
    return [(name, table[name][split]) for name in ORDER if split in table[name]]


def _is_word(tok: str) -> bool:
    return bool(L.words(L.clean(tok)))


def cut(sents: list[list[tuple[str, str]]], bucket: str, n_max: int, seed: str, how: str = "start") -> list[str]:
    """Up to ``n_max`` texts, at most one per corpus sentence, of the bucket's length in words (detokenised,
    with the punctuation that follows the last word): the sentence's first words (``how="start"``: a short
    text begins where a sentence begins), a window anywhere in it (``"window"``), or the whole sentence."""
    lo, hi = BUCKETS[bucket]
    rng = random.Random(zlib.crc32(seed.encode()))
    order = list(range(len(sents)))
    rng.shuffle(order)
    out: list[str] = []
    for i in order:
        if len(out) >= n_max:
            break
        sent = sents[i]
        pos = [k for k, (tok, _) in enumerate(sent) if _is_word(tok)]
        if len(pos) < lo:
            continue
        if bucket == "whole":
            text = detokenise(sent)[0]
        else:
            n = rng.randint(lo, min(hi, len(pos)))
            s = rng.randint(0, len(pos) - n) if how == "window" else 0
            a, b = (pos[s] if s else 0), pos[s + n - 1] + 1
            while b < len(sent) and not _is_word(sent[b][0]) and not sent[b][0].startswith(("@", "http", "#")):
                b += 1
            text = detokenise(sent[a:b])[0]
        if lo <= len(L.words(L.clean(text))) <= hi:
            out.append(text)
    return out


def texts(split: str, per_cell: int, mirror: Path, how: str = "start") -> dict[tuple[str, str], list[str]]:
    cells: dict[tuple[str, str], list[str]] = {}
    for name, src in sources(split):
        sents = list(sentences(read_source(src, mirror, {}), src.fmt))
        lo, hi = (round(f * len(sents)) for f in src.part)
        sents = sents[lo:hi]
        for bucket in BUCKETS:
            cells[(name, bucket)] = cut(sents, bucket, per_cell, f"{name}/{split}/{bucket}", how)
    return cells


def lang_of(name: str) -> str:
    return {**CORPORA, **EXTRA}[name]["dev"].lang


# --- measuring ------------------------------------------------------------------------------------------
# which model masks a language's text: the two-letter code of the model's family, "" for none (refused)
MODEL = {"en": "en", "fr": "fr", "de": "eu", "es": "eu", "it": "eu", "nl": "eu", "pt": "eu"}


def shares(codes: Iterable[str], lang: str) -> tuple[int, float, float, float]:
    """n and the shares (%) of texts in ``lang`` masked with its own model, with another one, refused."""
    c = Counter(MODEL.get(code, "") for code in codes)
    n = sum(c.values())
    if not n:
        return 0, 0.0, 0.0, 0.0
    own = c[MODEL[lang]] if lang in MODEL else 0
    return n, 100 * own / n, 100 * (n - own - c[""]) / n, 100 * c[""] / n


def table(cells: dict[tuple[str, str], list[str]], detectors: dict[str, Callable[[str], str]]) -> str:
    head = "| corpus | lang | words | n | " + " | ".join(f"{d}: own / other / refused %" for d in detectors) + " |"
    lines = [head, "|" + "---|" * (4 + len(detectors))]
    for (name, bucket), ts in cells.items():
        row = [name, lang_of(name), bucket, str(len(ts))]
        for det in detectors.values():
            _, own, other, ref = shares((det(t) for t in ts), lang_of(name))
            row.append(f"{own:.1f} / {other:.1f} / {ref:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _pooled(codes: dict[tuple[str, str], list[str]]) -> dict[str, list[str]]:
    pooled: dict[str, list[str]] = defaultdict(list)
    for (name, bucket), cs in codes.items():
        if bucket in ("3-5", "6-10", "11-20"):
            pooled[lang_of(name)].extend(cs)
    return pooled


def pooled_shares(codes: dict[tuple[str, str], list[str]]) -> dict[str, dict[str, float]]:
    """Per language, texts of 3-20 words pooled: n and the shares (%) masked with the language's own model, with
    another one, refused."""
    out = {}
    for lang, cs in _pooled(codes).items():
        n, own, other, ref = shares(cs, lang)
        out[lang] = {"n": n, "own": round(own, 1), "other": round(other, 1), "refused": round(ref, 1)}
    return out


def summary(cells: dict[tuple[str, str], list[str]], codes: dict[tuple[str, str], list[str]]) -> str:
    """Per language, texts of >= 3 words (the length buckets 3-5, 6-10, 11-20 pooled): the target figure."""
    lines = [
        "| lang | n (3-20 words) | own model % | another model % | refused % | target |",
        "|---|---|---|---|---|---|",
    ]
    for lang, cs in _pooled(codes).items():
        n, own, other, ref = shares(cs, lang)
        if lang not in MODEL:
            target, ok = "refused >= 99 %", ref >= 99
        elif lang == "en":
            target, ok = "refused <= 1 %", ref <= 1
        else:
            target, ok = "own model >= 98 %", own >= 98
        lines.append(f"| {lang} | {n} | {own:.1f} | {other:.1f} | {ref:.1f} | {target}: {'met' if ok else 'MISSED'} |")
    return "\n".join(lines)


def _en_fr_shares(codes: Iterable[str]) -> tuple[int, float, float, float]:
    """The grid's view (chosen when only English and French were masked): n, accepted as en, as fr, refused."""
    c = Counter(codes)
    n = sum(c.values())
    if not n:
        return 0, 0.0, 0.0, 0.0
    return n, 100 * c["en"] / n, 100 * c["fr"] / n, 100 * (n - c["en"] - c["fr"]) / n


def decide(g: Any, row: tuple[dict[str, float], bool], threshold: float) -> str:
    lang = g.decide(row[0], threshold)
    return "en" if lang not in L.SUPPORTED and row[1] else lang


GRID = (
    ("latin", True),
    ("european", True),
    ("english,french,german,spanish,italian,dutch,portuguese,polish", False),
    ("european", False),
)


def explore(cells: dict[tuple[str, str], list[str]], grid: Iterable[tuple[str, bool]] = GRID) -> str:
    """Dev only: detector language sets and modes x name rules x thresholds. Per row: the worst corpus per
    length bucket (foreign refused, English refused), French accepted (3-5 words), and per language the
    3-20-word figures the targets are on (worst foreign language refused, English refused, French accepted)."""
    rules = [(0, "full", False), (3, "full", False), (3, "en", False), (3, "none-en", False), (3, "none-en", True)]
    thresholds = (0.05, 0.1, 0.2, 1.01)
    out = [
        "| languages | mode | drop names / names only / lexicon | threshold "
        "| worst foreign refused % (3-5 / 6-10 / 11-20) | worst English refused % (3-5 / 6-10 / 11-20 / whole) "
        "| fr accepted % (3-5) "
        "| 3-20 words: worst foreign refused / English refused / fr accepted % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = [k for k in cells if k[1] != "1-2"]
    for spec, low in grid:
        gate = L.LanguageGate(L.Config(languages=spec, low_accuracy=low))
        t0 = time.perf_counter()
        gate.detector()
        load = time.perf_counter() - t0
        cache: dict[tuple[str, ...], dict[str, float]] = {}
        for drop, names_only, lexicon in rules:
            g = L.LanguageGate(
                L.Config(languages=spec, low_accuracy=low, drop_names=drop, names_only=names_only, lexicon=lexicon)
            )
            g._detector, g._lexicon = gate.detector(), gate._lexicon
            per: dict[tuple[str, str], list[Any]] = {}
            for key in keys:
                rows: list[Any] = []
                for t in cells[key]:
                    kind, ws = g.evidence(t)
                    if kind:
                        rows.append("en" if kind == "short" else kind)
                        continue
                    k = tuple(ws)
                    if k not in cache:
                        cache[k] = g.scores(ws)
                    rows.append((cache[k], lexicon and g.all_english(ws)))
                per[key] = rows
            for th in thresholds:
                codes = {k: [r if isinstance(r, str) else decide(g, r, th) for r in rows] for k, rows in per.items()}
                worst_f = dict.fromkeys(("3-5", "6-10", "11-20"), 100.0)
                worst_e = dict.fromkeys(("3-5", "6-10", "11-20", "whole"), 0.0)
                fr35 = 100.0
                pooled: dict[str, list[str]] = defaultdict(list)
                for (name, bucket), cs in codes.items():
                    _, en, fr, ref = _en_fr_shares(cs)
                    lang = lang_of(name)
                    if bucket != "whole":
                        pooled[lang].extend(cs)
                    if lang == "en":
                        worst_e[bucket] = max(worst_e[bucket], ref)
                    elif lang == "fr":
                        fr35 = min(fr35, en + fr) if bucket == "3-5" else fr35
                    elif bucket in worst_f:
                        worst_f[bucket] = min(worst_f[bucket], ref)
                foreign = min(_en_fr_shares(cs)[3] for lang, cs in pooled.items() if lang not in ("en", "fr"))
                langs = spec if len(spec) < 12 else f"{len(L._languages(spec))} listed"
                out.append(
                    f"| {langs} | {'low' if low else 'high'} (load {load:.1f} s) | {drop} / {names_only} / {lexicon} "
                    f"| {th} | "
                    + " / ".join(f"{v:.1f}" for v in worst_f.values())
                    + " | "
                    + " / ".join(f"{v:.1f}" for v in worst_e.values())
                    + f" | {fr35:.1f} | {foreign:.1f} / {_en_fr_shares(pooled['en'])[3]:.2f} / "
                    + f"{100 - _en_fr_shares(pooled['fr'])[3]:.1f} |"
                )
        del gate
    return "\n".join(out)


def explore_frequencies(cells: dict[tuple[str, str], list[str]]) -> str:
    """Dev only: rule 8's grid (margins, shares, relabelling) over rules 1-7's answers. Per row, on 3-20-word
    texts: the own-model share per supported language, English refused, and the other languages refused (mean
    over languages, and the three least)."""
    base = L.LanguageGate(L.Config(frequencies=False))
    table = L._frequencies()
    rows: list[tuple[str, str, Any]] = []  # (language, rules 1-7's code, (english scores, other scores))
    for (name, bucket), ts in cells.items():
        if bucket not in ("3-5", "6-10", "11-20"):
            continue
        for t in ts:
            code = base.detect(t)
            feats = None
            if code in L.SUPPORTED:
                _, ws, kept = base._evidence(t)
                en = L.tokens(kept if kept is not None and len(kept) >= L.MIN_WORDS else [])
                other = L.tokens(ws)
                feats = tuple(
                    (*table.score(tk), len(tk)) if len(set(tk)) >= L.MIN_WORDS else None for tk in (en, other)
                )
            rows.append((lang_of(name), code, feats))
    grid = [
        L.Config(frequencies=False),
        *(
            L.Config(freq_margin=m, freq_share=sh, relabel_margin=r)
            for r in (99.0, 1.0, 2.0, 3.0)
            for m in (0.5, 1.0, 2.0, 3.0)
            for sh in (0.5, 0.6, 0.75)
        ),
        *(L.Config(freq_margin_en=me) for me in (2.0, 4.0)),
    ]
    out = [
        "| relabel / margin / share / English margin | own model % (" + " / ".join(L.SUPPORTED) + ") "
        "| English refused % | others refused % (mean; least three) |",
        "|---|---|---|---|",
    ]
    for c in grid:
        codes: dict[str, list[str]] = defaultdict(list)
        for lang, code, feats in rows:
            if c.frequencies and feats is not None:
                f = feats[0] if code == "en" else feats[1]
                code = L.frequency_verdict(code, *f, c) if f is not None else code
            codes[lang].append(code)
        sh = {lang: shares(cs, lang) for lang, cs in codes.items()}
        others = {lang: v[3] for lang, v in sh.items() if lang not in MODEL}
        least = sorted(others.items(), key=lambda kv: kv[1])[:3]
        label = (
            f"{c.relabel_margin:g} / {c.freq_margin:g} / {c.freq_share:g} / {c.freq_margin_en:g}"
            if c.frequencies
            else "rule 8 off"
        )
        out.append(
            f"| {label} | "
            + " / ".join(f"{sh[lang][1]:.1f}" for lang in L.SUPPORTED)
            + f" | {sh['en'][3]:.2f} | {sum(others.values()) / len(others):.1f}; "
            + ", ".join(f"{lang} {v:.0f}" for lang, v in least)
            + " |"
        )
    return "\n".join(out)


_PROBE = r"""
import importlib.util, json, os, statistics, sys, time
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
import spacy.lookups  # the masker has spaCy loaded already: not counted
sys.path.insert(0, sys.argv[1])
from ondevice_rec.privacy import language as L  # the module only: lingua is loaded by the first detect
texts = json.loads(sys.stdin.read())
r0, t0 = rss(), time.perf_counter()
L.detect('Ceci est une phrase pour charger le détecteur.')
load, r1 = time.perf_counter() - t0, rss()
ms = []
for t in texts:
    a = time.perf_counter(); L.detect(t); ms.append(1e3 * (time.perf_counter() - a))
ms.sort()
print(json.dumps({'load_s': load, 'rss_mb': r1 - r0, 'after_mb': rss() - r0, 'n': len(ms),
                  'p50_ms': statistics.median(ms), 'p95_ms': ms[int(0.95 * len(ms))], 'max_ms': ms[-1]}))
"""


def cost(cells: dict[tuple[str, str], list[str]]) -> str:
    """Load time (first detect: lingua import, build with preloading, English lexicon), added RSS (spaCy itself,
    which the masker loads anyway, excluded) and per-call latency on 3-30-word texts, in a fresh process."""
    import json

    pool = [t for (_, b), ts in cells.items() if b != "1-2" for t in ts if 3 <= len(L.words(L.clean(t))) <= 30]
    sample = random.Random(0).sample(pool, min(3000, len(pool)))
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT)],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        check=True,
    )
    m = json.loads(r.stdout)
    return (
        f"detector {L.CONFIG}: first call (import + build + preload + lexicon) {m['load_s']:.2f} s, "
        f"RSS +{m['rss_mb']:.0f} MB "
        f"(+{m['after_mb']:.0f} MB after {m['n']} calls); per call on 3-30-word texts: median {m['p50_ms']:.3f} ms, "
        f"p95 {m['p95_ms']:.3f} ms, max {m['max_ms']:.2f} ms"
    )


def refused_english(cells: dict[tuple[str, str], list[str]], detect: Callable[[str], str]) -> str:
    seen: set[str] = set()
    lines = []
    for (name, bucket), ts in cells.items():
        if lang_of(name) != "en" or bucket == "1-2":
            continue
        for t in ts:
            if t in seen:
                continue
            seen.add(t)
            code = detect(t)
            if code not in L.SUPPORTED:
                lines.append(f"- {name} [{bucket}] {code}: {t}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--per-cell", type=int, default=1000)
    ap.add_argument("--explore", action="store_true", help="dev only: the configuration grid")
    ap.add_argument("--explore-frequencies", action="store_true", help="dev only: rule 8's grid")
    ap.add_argument("--cut", choices=("start", "window"), default="start", help="where short texts are cut")
    ap.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = ap.parse_args()
    if (args.explore or args.explore_frequencies) and args.split != "dev":
        raise SystemExit("--explore chooses the configuration: dev split only")
    cells = texts(args.split, args.per_cell, args.mirror, args.cut)
    report = [f"# Language identification, {args.split} split, texts cut at the {args.cut} of sentences\n"]
    if args.explore_frequencies:
        report += ["## Rule 8 (word frequencies): grid\n", explore_frequencies(cells), ""]
    elif args.explore:
        report += ["## Configuration grid\n", explore(cells), ""]
    else:
        new: dict[tuple[str, str], list[str]] = {k: [L.detect(t) for t in ts] for k, ts in cells.items()}
        old = {k: [stopword_detect(t) for t in ts] for k, ts in cells.items()}
        no_rule8 = L.LanguageGate(L.Config(frequencies=False)).detect
        ablation = {k: [no_rule8(t) for t in ts] for k, ts in cells.items()}
        report += ["## Per corpus and length\n", table(cells, {"old": stopword_detect, "new": L.detect}), ""]
        report += ["## Per language, 3-20 words: old\n", summary(cells, old), ""]
        report += ["## Per language, 3-20 words: new\n", summary(cells, new), ""]
        report += ["## Per language, 3-20 words: new without rule 8 (word frequencies)\n", summary(cells, ablation), ""]
        report += ["## Cost\n", cost(cells), ""]
        report += ["## English texts (>= 3 words) the new detector refuses\n", refused_english(cells, L.detect), ""]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        # the refused texts are printed, not written: corpus text (Reuters' CoNLL) is not redistributed
        kept = text.split("\n## English texts (>= 3 words) the new detector refuses")[0]
        suffix = ".frequencies" if args.explore_frequencies else ""
        (args.out / f"langid.{args.split}{suffix}.md").write_text(kept.rstrip("\n") + "\n", encoding="utf-8")
        if not (args.explore or args.explore_frequencies):
            pooled = {"old": pooled_shares(old), "new": pooled_shares(new), "no_rule8": pooled_shares(ablation)}
            report_json = {"command": "python benchmarks/privacy/langid.py " + " ".join(sys.argv[1:]), **pooled}
            (args.out / f"langid.{args.split}.json").write_text(json.dumps(report_json, indent=1) + "\n")


if __name__ == "__main__":
    main()
