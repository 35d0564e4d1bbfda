"""The README's privacy figures, rendered from the committed results files (and only from them).

    python benchmarks/privacy/readme.py --write    # after re-running the benchmarks: update README.md
    python benchmarks/privacy/readme.py --check    # exit 1 if README.md differs (tests/test_docs.py runs this)

The block sits between ``<!-- privacy-figures:start -->`` and ``<!-- privacy-figures:end -->`` in README.md;
each table names the results file and the command that wrote it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "privacy"
START, END = "<!-- privacy-figures:start -->", "<!-- privacy-figures:end -->"

NER = {
    "wnut17": "WNUT-17 (social media)",
    "btc": "Broad Twitter Corpus",
    "conll2003-en": "CoNLL-2003 English (news)",
    "wikineural-fr": "WikiNEuRal French",
    "wikineural-de": "WikiNEuRal German",
    "wikineural-es": "WikiNEuRal Spanish",
    "wikineural-it": "WikiNEuRal Italian",
    "wikineural-nl": "WikiNEuRal Dutch",
    "wikineural-pt": "WikiNEuRal Portuguese",
    "conll2003-de": "CoNLL-2003 German (news)",
    "conll2002-es": "CoNLL-2002 Spanish (news)",
    "conll2002-nl": "CoNLL-2002 Dutch (news)",
}
ADDRESS_LABELS = ("STREET", "TOWN", "REGION", "POSTCODE", "COUNTRY", "HOUSE")
LANGS = {"de": "German", "es": "Spanish", "it": "Italian", "nl": "Dutch", "pt": "Portuguese", "pl": "Polish"}


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def ner_table(r: dict[str, Any]) -> list[str]:
    out = [
        f"Names and places (`results.json`, `{r['command']}`), share of entities left verbatim; for German, "
        "Spanish, Italian, Dutch and Portuguese no spaCy model is installable, so stock Presidio is its English "
        "pipeline:",
        "",
        "| corpus (whole test split) | PERSON: odrec (partial) | stock Presidio | LOCATION: odrec | stock "
        "| over-masking: odrec | stock | refused | ms/KB p95, odrec (stock) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, title in NER.items():
        c = r["corpora"][key]
        o, p = c["odrec"], c["presidio"]
        lat = c.get("latency_1kb", {})
        out.append(
            f"| {title} ({o['PERSON']['entities']:,} persons / {o['LOCATION']['entities']:,} places) "
            f"| {pct(o['PERSON']['verbatim_leak'])} ({pct(o['PERSON']['partial_leak'])}) "
            f"| {pct(p['PERSON']['verbatim_leak'])} | {pct(o['LOCATION']['verbatim_leak'])} "
            f"| {pct(p['LOCATION']['verbatim_leak'])} | {pct(o['over_masking'])} | {pct(p['over_masking'])} "
            f"| {pct(o['refusal_rate'])} "
            f"| {lat.get('odrec', {}).get('ms_per_kb_p95', '–')} "
            f"({lat.get('presidio', {}).get('ms_per_kb_p95', '–')}) |"
        )
    return out


def address_table(r: dict[str, Any]) -> list[str]:
    o, p = r["results"]["odrec"], r["results"]["presidio"]
    out = [
        f"Postal addresses (`addresses.test.json`, `{r['command']}`): {r['texts']} texts, OpenCage's test cases "
        "rendered as multi-line and comma-separated blocks inside English and French sentences, share of "
        "components left verbatim (partial):",
        "",
        "| component | n | odrec | stock Presidio |",
        "|---|---|---|---|",
    ]
    for lab in ADDRESS_LABELS:
        if o.get(lab, {}).get("entities"):
            out.append(
                f"| {lab.lower()} | {o[lab]['entities']} | {pct(o[lab]['verbatim_leak'])} "
                f"({pct(o[lab]['partial_leak'])}) | {pct(p[lab]['verbatim_leak'])} ({pct(p[lab]['partial_leak'])}) |"
            )
    out.append(f"| over-masking (sentence words) | | {pct(o['over_masking'])} | {pct(p['over_masking'])} |")
    out.append(f"| texts refused | | {pct(o['refusal_rate'])} | {pct(p['refusal_rate'])} |")
    return out


def langid_table(r: dict[str, Any]) -> list[str]:
    new = r["new"]
    out = [
        f"Languages (`langid.test.json`, `{r['command']}`): texts of 3–20 words cut from third-party corpora "
        "(WikiNEuRal, CoNLL, WNUT-17, BTC; lingua-py's Leipzig test sentences for 41 more languages):",
        "",
        "| language | texts | masked with its own model | with another language's | refused |",
        "|---|---|---|---|---|",
    ]
    for code in ("en", "fr", *LANGS, "ru"):
        if code in new:
            name = {"en": "English", "fr": "French", "ru": "Russian"}.get(code, LANGS.get(code, code))
            n = new[code]
            out.append(f"| {name} | {n['n']:,} | {n['own']} % | {n['other']} % | {n['refused']} % |")
    others = {code: v for code, v in new.items() if code not in ("en", "fr", "ru", *LANGS)}
    if others:
        worst = sorted(others, key=lambda c: others[c]["refused"])[:5]
        out.append(
            f"| {len(others)} other languages (Leipzig sentences) | {sum(v['n'] for v in others.values()):,} | – "
            f"| {round(sum(v['other'] for v in others.values()) / len(others), 1)} % (mean) "
            f"| {round(sum(v['refused'] for v in others.values()) / len(others), 1)} % (mean); lowest: "
            + ", ".join(f"{c} {others[c]['refused']} %" for c in worst)
            + " |"
        )
    if "no_rule8" in r and others:
        a = r["no_rule8"]
        mean = round(sum(a[c]["refused"] for c in others) / len(others), 1)
        own = ", ".join(f"{c} {a[c]['own']} %" for c in ("en", "fr", "de", "es", "it", "nl", "pt") if c in a)
        out += [
            "",
            f"Ablation, same run, without rule 8 (word frequencies): the {len(others)} other languages refused "
            f"{mean} % (mean), English refused {a['en']['refused']} %; own model {own}.",
        ]
    return out


def warmup_line(r: dict[str, Any]) -> list[str]:
    m = r["median"]
    return [
        f"First send (`warmup.json`, `{r['command']}`, median of {r['runs']} fresh processes, {r['cpu_count']} "
        f"cores): {m['cold']['first_send_s']} s cold (models load on the caller's thread), "
        f"{m['warm']['first_send_s']} s after `warm_privacy=True` finished in the background "
        f"({m['warm']['ready_s']} s after open); later sends {m['warm']['second_send_s']} s.",
    ]


def render() -> str:
    parts = [
        ner_table(_load("results.json")),
        address_table(_load("addresses.test.json")),
        langid_table(_load("langid.test.json")),
        warmup_line(_load("warmup.json")),
    ]
    return "\n\n".join("\n".join(p) for p in parts)


def block(readme: str) -> str:
    a, b = readme.index(START) + len(START), readme.index(END)
    return readme[a:b].strip("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    readme = path.read_text(encoding="utf-8")
    want = render()
    if args.write:
        a, b = readme.index(START) + len(START), readme.index(END)
        path.write_text(readme[:a] + "\n" + want + "\n" + readme[b:], encoding="utf-8")
    elif args.check and block(readme) != want:
        print("README.md's privacy figures differ from benchmarks/results/privacy: run with --write", file=sys.stderr)
        sys.exit(1)
    else:
        print(want)


if __name__ == "__main__":
    main()
