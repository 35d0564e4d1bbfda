"""Language identification for the egress gate: which texts get masked as English/French and which are refused.

Sentences cut from third-party corpora (the sources and sha256 checks of ``corpora.py``) into texts of 1-2,
3-5, 6-10 and 11-20 words (and whole sentences/posts), detokenised, are given to the old stopword detector
(``stopword_detect``, a copy of the module before lingua) and to ``ondevice_rec.privacy.language.detect``.
Per corpus and length: the share accepted as English, as French, and refused.

    python benchmarks/privacy/langid.py --split dev --explore     # choose the configuration (dev only)
    python benchmarks/privacy/langid.py --split dev               # old vs new, + load time / latency / RSS
    python benchmarks/privacy/langid.py --split test              # once, at the end

Targets (texts of >= 3 words): de/es/it/nl/pt/pl/ru refused >= 99 %; English (WNUT-17, BTC, CoNLL-2003,
WikiNEuRal en) refused <= 1 %; French accepted >= 99 %.
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
        for bucket in BUCKETS:
            cells[(name, bucket)] = cut(sents, bucket, per_cell, f"{name}/{split}/{bucket}", how)
    return cells


def lang_of(name: str) -> str:
    return {**CORPORA, **EXTRA}[name]["dev"].lang


# --- measuring ------------------------------------------------------------------------------------------
def shares(codes: Iterable[str]) -> tuple[int, float, float, float]:
    c = Counter(codes)
    n = sum(c.values())
    if not n:
        return 0, 0.0, 0.0, 0.0
    return n, 100 * c["en"] / n, 100 * c["fr"] / n, 100 * (n - c["en"] - c["fr"]) / n


def table(cells: dict[tuple[str, str], list[str]], detectors: dict[str, Callable[[str], str]]) -> str:
    head = "| corpus | lang | words | n | " + " | ".join(f"{d}: en / fr / refused %" for d in detectors) + " |"
    lines = [head, "|" + "---|" * (4 + len(detectors))]
    for (name, bucket), ts in cells.items():
        row = [name, lang_of(name), bucket, str(len(ts))]
        for det in detectors.values():
            _, en, fr, ref = shares(det(t) for t in ts)
            row.append(f"{en:.1f} / {fr:.1f} / {ref:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def pooled_shares(codes: dict[tuple[str, str], list[str]]) -> dict[str, dict[str, float]]:
    """Per language, texts of 3-20 words pooled: n and the shares (%) accepted as English, as French, refused."""
    pooled: dict[str, list[str]] = defaultdict(list)
    for (name, bucket), cs in codes.items():
        if bucket in ("3-5", "6-10", "11-20"):
            pooled[lang_of(name)].extend(cs)
    out = {}
    for lang, cs in pooled.items():
        n, en, fr, ref = shares(cs)
        out[lang] = {"n": n, "en": round(en, 1), "fr": round(fr, 1), "refused": round(ref, 1)}
    return out


def summary(cells: dict[tuple[str, str], list[str]], codes: dict[tuple[str, str], list[str]]) -> str:
    """Per language, texts of >= 3 words (the length buckets 3-5, 6-10, 11-20 pooled): the target figure."""
    pooled: dict[str, list[str]] = defaultdict(list)
    for (name, bucket), cs in codes.items():
        if bucket in ("3-5", "6-10", "11-20"):
            pooled[lang_of(name)].extend(cs)
    lines = ["| lang | n (3-20 words) | accepted en / fr % | refused % | target |", "|---|---|---|---|---|"]
    for lang, cs in pooled.items():
        n, en, fr, ref = shares(cs)
        target = {"en": "refused <= 1 %", "fr": "accepted >= 99 %"}.get(lang, "refused >= 99 %")
        ok = ref <= 1 if lang == "en" else (en + fr >= 99 if lang == "fr" else ref >= 99)
        lines.append(f"| {lang} | {n} | {en:.1f} / {fr:.1f} | {ref:.1f} | {target}: {'met' if ok else 'MISSED'} |")
    return "\n".join(lines)


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
                    _, en, fr, ref = shares(cs)
                    lang = lang_of(name)
                    if bucket != "whole":
                        pooled[lang].extend(cs)
                    if lang == "en":
                        worst_e[bucket] = max(worst_e[bucket], ref)
                    elif lang == "fr":
                        fr35 = min(fr35, en + fr) if bucket == "3-5" else fr35
                    elif bucket in worst_f:
                        worst_f[bucket] = min(worst_f[bucket], ref)
                foreign = min(shares(cs)[3] for lang, cs in pooled.items() if lang not in ("en", "fr"))
                langs = spec if len(spec) < 12 else f"{len(L._languages(spec))} listed"
                out.append(
                    f"| {langs} | {'low' if low else 'high'} (load {load:.1f} s) | {drop} / {names_only} / {lexicon} "
                    f"| {th} | "
                    + " / ".join(f"{v:.1f}" for v in worst_f.values())
                    + " | "
                    + " / ".join(f"{v:.1f}" for v in worst_e.values())
                    + f" | {fr35:.1f} | {foreign:.1f} / {shares(pooled['en'])[3]:.2f} / "
                    + f"{100 - shares(pooled['fr'])[3]:.1f} |"
                )
        del gate
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
            if code not in ("en", "fr"):
                lines.append(f"- {name} [{bucket}] {code}: {t}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--per-cell", type=int, default=1000)
    ap.add_argument("--explore", action="store_true", help="dev only: the configuration grid")
    ap.add_argument("--cut", choices=("start", "window"), default="start", help="where short texts are cut")
    ap.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = ap.parse_args()
    if args.explore and args.split != "dev":
        raise SystemExit("--explore chooses the configuration: dev split only")
    cells = texts(args.split, args.per_cell, args.mirror, args.cut)
    report = [f"# Language identification, {args.split} split, texts cut at the {args.cut} of sentences\n"]
    if args.explore:
        report += ["## Configuration grid\n", explore(cells), ""]
    else:
        new: dict[tuple[str, str], list[str]] = {k: [L.detect(t) for t in ts] for k, ts in cells.items()}
        old = {k: [stopword_detect(t) for t in ts] for k, ts in cells.items()}
        report += ["## Per corpus and length\n", table(cells, {"old": stopword_detect, "new": L.detect}), ""]
        report += ["## Per language, 3-20 words: old\n", summary(cells, old), ""]
        report += ["## Per language, 3-20 words: new\n", summary(cells, new), ""]
        report += ["## Cost\n", cost(cells), ""]
        report += ["## English texts (>= 3 words) the new detector refuses\n", refused_english(cells, L.detect), ""]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        # the refused texts are printed, not written: corpus text (Reuters' CoNLL) is not redistributed
        kept = text.split("\n## English texts (>= 3 words) the new detector refuses")[0]
        (args.out / f"langid.{args.split}.md").write_text(kept.rstrip("\n") + "\n", encoding="utf-8")
        if not args.explore:
            pooled = {"old": pooled_shares(old), "new": pooled_shares(new)}
            report_json = {"command": "python benchmarks/privacy/langid.py " + " ".join(sys.argv[1:]), **pooled}
            (args.out / f"langid.{args.split}.json").write_text(json.dumps(report_json, indent=1) + "\n")


if __name__ == "__main__":
    main()
