"""PII leak benchmark for ``ondevice_rec.privacy.redact`` on a corpus generated with Faker.

    python benchmarks/bench_privacy.py --texts 2400 --seed 0 --out benchmarks/results/privacy.json

For each entity type: the share of inserted PII values that survive verbatim in the redacted text (and, for
names and addresses, the share where any part of three or more characters survives). Also the false-positive
rate on clean catalogue-style text (share of texts where anything is masked) and redact latency per 1 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from faker import Faker  # noqa: E402

from ondevice_rec.catalog import demo_items  # noqa: E402
from ondevice_rec.privacy import redact  # noqa: E402

LOCALES = ["en_US", "en_GB", "en_CA", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "en_IN"]


def _sep_digits(rng: random.Random, digits: str, group: int = 4) -> str:
    sep = rng.choice([" ", "-", ".", "", "_", "/", " - "])
    return sep.join(digits[i : i + group] for i in range(0, len(digits), group))


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakes = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakes.values()):
            f.seed_instance(seed * 100 + i)

    def fk(self, locales: list[str] | None = None) -> Faker:
        return self.fakes[self.rng.choice(locales or LOCALES)]

    def person(self) -> str:
        name = self.fk().name()
        r = self.rng.random()
        return name.lower() if r < 0.15 else name.upper() if r < 0.3 else name

    def email(self) -> str:
        e = self.fk().email()
        return e.upper() if self.rng.random() < 0.1 else e

    def phone(self) -> str:
        return self.fk(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_CA", "en_IN"]).phone_number()

    def card(self) -> str:
        num = self.fk(["en_US"]).credit_card_number()
        return _sep_digits(self.rng, num) if self.rng.random() < 0.7 else num

    def iban(self) -> str:
        iban = self.fk(["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]).iban()
        r = self.rng.random()
        if r < 0.5:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban.lower() if self.rng.random() < 0.15 else iban

    def ip(self) -> str:
        f = self.fk(["en_US"])
        return f.ipv4() if self.rng.random() < 0.8 else f.ipv6()

    def national_id(self) -> str:
        loc = self.rng.choice(["en_US", "en_GB", "fr_FR", "it_IT", "es_ES", "nl_NL", "en_CA", "pt_BR", "en_IN"])
        f = self.fakes[loc]
        if loc == "es_ES":
            return self.rng.choice([f.nif(), f.nie()])
        if loc == "pt_BR":
            return f.cpf()
        if loc == "en_IN":
            return f.aadhaar_id()
        return f.ssn()

    def address(self) -> str:
        f = self.fk(["en_US", "en_GB", "en_CA", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"])
        return f.street_address()

    def dob(self) -> str:
        d = self.fk(["en_US"]).date_of_birth(minimum_age=18, maximum_age=90)
        fmt = self.rng.choice(["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d %B %Y", "%B %d, %Y", "%d-%m-%y"])
        return d.strftime(fmt)


TEMPLATES = [
    (
        "chat",
        "Hi, this is {PERSON}. Can you find me more jazz albums like the last one? "
        "Email me at {EMAIL_ADDRESS} or call {PHONE_NUMBER}.",
    ),
    ("chat", "hey, {PERSON} here - my card {CREDIT_CARD} got charged twice for the cooking course, please refund"),
    ("chat", "I moved to {STREET_ADDRESS}, please update my delivery address. Thanks, {PERSON}"),
    ("chat", "Login from {IP_ADDRESS} failed for {EMAIL_ADDRESS}, can you reset my password?"),
    ("chat", "my ssn is {NATIONAL_ID} and my birthday is {DATE_OF_BIRTH}, why do you need them?"),
    ("review", "Loved this mystery novel, could not put it down. Recommended by {PERSON}. Five stars."),
    ("review", "The travel guide was out of date; the hotel at {STREET_ADDRESS} had closed. - {PERSON}"),
    ("review", "Great recipes. If the author reads this, reach me on {PHONE_NUMBER}, I have a question."),
    (
        "form",
        "Name: {PERSON}\nEmail: {EMAIL_ADDRESS}\nPhone: {PHONE_NUMBER}\nAddress: {STREET_ADDRESS}\n"
        "Date of birth: {DATE_OF_BIRTH}",
    ),
    ("form", "Payment details\nCard number: {CREDIT_CARD}\nIBAN: {IBAN_CODE}\nAccount holder: {PERSON}"),
    ("form", "National ID: {NATIONAL_ID}\nFull name: {PERSON}\nBorn: {DATE_OF_BIRTH}\nIP: {IP_ADDRESS}"),
    ("address", "Please ship the gardening book to {PERSON}, {STREET_ADDRESS}."),
    ("address", "Deliver to: {STREET_ADDRESS} (attn. {PERSON}). Contact: {PHONE_NUMBER}"),
    ("request", "Transfer the refund to {IBAN_CODE} in the name of {PERSON}, please."),
    ("request", "Recommend programming courses for {PERSON} ({EMAIL_ADDRESS}), born {DATE_OF_BIRTH}."),
    ("request", "{PERSON} asked for horror films; send the list to {EMAIL_ADDRESS}, server {IP_ADDRESS}."),
]

CLEAN_TEMPLATES = [
    "A {adj} {noun} for {use}. Ships in {n} days and comes with a printed guide.",
    "Readers call this {adj} {noun} perfect for {use}; chapter {n} is the favourite.",
    "{adj_c} {noun} with {n} tracks, recorded live and remastered for {use}.",
    "Part {n} of the series: a {adj} {noun} about {use}.",
]
WORDS = {
    "adj": "quiet gentle thrilling cosy practical classic modern illustrated slow-paced award-winning".split(),
    "noun": "novel guidebook album course cookbook documentary podcast anthology handbook collection".split(),
    "use": [
        "rainy evenings",
        "long train journeys",
        "beginners",
        "family dinners",
        "weekend hikes",
        "late-night study",
        "summer holidays",
        "small gardens",
        "road trips",
        "learning to code",
    ],
}


def make_corpus(n: int, seed: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    g = Gen(seed)
    makers = {
        "PERSON": g.person,
        "EMAIL_ADDRESS": g.email,
        "PHONE_NUMBER": g.phone,
        "CREDIT_CARD": g.card,
        "IBAN_CODE": g.iban,
        "IP_ADDRESS": g.ip,
        "NATIONAL_ID": g.national_id,
        "STREET_ADDRESS": g.address,
        "DATE_OF_BIRTH": g.dob,
    }
    out = []
    for i in range(n):
        kind, tpl = TEMPLATES[i % len(TEMPLATES)]
        values: list[tuple[str, str]] = []

        def fill(m: re.Match[str], values: list[tuple[str, str]] = values) -> str:
            v = makers[m.group(1)]().replace("\n", ", ")
            values.append((m.group(1), v))
            return v

        out.append((kind, re.sub(r"\{([A-Z_]+)\}", fill, tpl), values))
    return out


def clean_corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = [f"{it['title']}. {it['text']}" for it in demo_items()]
    while len(texts) < n:
        tpl = rng.choice(CLEAN_TEMPLATES)
        adj = rng.choice(WORDS["adj"])
        texts.append(
            tpl.format(
                adj=adj,
                adj_c=adj.capitalize(),
                noun=rng.choice(WORDS["noun"]),
                use=rng.choice(WORDS["use"]),
                n=rng.randint(2, 40),
            )
        )
    return texts


def survives_partially(value: str, out: str) -> bool:
    parts = [p for p in re.split(r"[\s,]+", value) if len(p) >= 3 and not p.isdigit()]
    return any(re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", out) for p in parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--texts", type=int, default=2400)
    ap.add_argument("--clean", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--show-leaks", type=int, default=0, help="print up to N leaked values per type")
    args = ap.parse_args()

    redact("warm up the analyzer")
    corpus = make_corpus(args.texts, args.seed)
    total: dict[str, int] = defaultdict(int)
    leaked: dict[str, int] = defaultdict(int)
    partial: dict[str, int] = defaultdict(int)
    examples: dict[str, list[str]] = defaultdict(list)
    for _kind, text, values in corpus:
        out = redact(text)
        for etype, v in values:
            total[etype] += 1
            if v in out:
                leaked[etype] += 1
                if len(examples[etype]) < args.show_leaks:
                    examples[etype].append(v)
            if etype in ("PERSON", "STREET_ADDRESS") and survives_partially(v, out):
                partial[etype] += 1
    clean = clean_corpus(args.clean, args.seed)
    fp_texts = [t for t in clean if redact(t) != t]
    # latency on ~1 KB texts
    rng = random.Random(args.seed)
    kb_texts = []
    while len(kb_texts) < 200:
        chunk = ""
        while len(chunk) < 1024:
            chunk += rng.choice(corpus)[1] + " "
        kb_texts.append(chunk[:1024])
    lat = []
    for t in kb_texts:
        t0 = time.perf_counter()
        redact(t)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    result = {
        "texts": len(corpus),
        "seed": args.seed,
        "locales": LOCALES,
        "leak_rate_verbatim": {e: round(leaked[e] / total[e], 4) for e in sorted(total)},
        "leaked_verbatim": {e: leaked[e] for e in sorted(total)},
        "values": dict(sorted(total.items())),
        "leak_rate_any_part": {e: round(partial[e] / total[e], 4) for e in sorted(partial)},
        "clean_texts": len(clean),
        "false_positive_texts": len(fp_texts),
        "false_positive_rate": round(len(fp_texts) / len(clean), 4),
        "redact_ms_per_1kb": {
            "p50": round(statistics.median(lat), 2),
            "p95": round(lat[int(0.95 * len(lat)) - 1], 2),
            "n": len(lat),
        },
    }
    print(json.dumps(result, indent=2))
    if args.show_leaks:
        print(json.dumps(examples, indent=2, ensure_ascii=False))
        print("false positives:", json.dumps([(t, redact(t)) for t in fp_texts[:20]], indent=1, ensure_ascii=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
