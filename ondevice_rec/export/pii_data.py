"""Training data of the PII token classifier: labelled texts (``{"text", "spans": [[start, end, label]]}``)
read from JSON lines, and multi-locale synthetic texts generated with Faker (names, places, addresses and
organisations from ~55 Latin-script locales, in chat messages, signatures, forms, reviews and addresses).

The synthetic texts are written by this project; every figure that judges the model is measured on
third-party corpora (``benchmarks/privacy``), never on these.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ExportError
from ._deps import require

ENTITY_TYPES = ("PERSON", "LOCATION", "STREET_ADDRESS", "ORGANIZATION", "MISC")
LABELS = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))
MASKED_TYPES = ("PERSON", "LOCATION", "STREET_ADDRESS")  # what the classifier is used to mask

LOCALES = [
    "en_US", "en_GB", "en_AU", "en_CA", "en_IN", "en_IE", "en_NZ", "en_PH", "en_NG", "en_KE", "en_PK",
    "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CA", "fr_BE", "fr_CH", "es_ES", "es_MX", "es_AR", "es_CO",
    "es_CL", "it_IT", "nl_NL", "nl_BE", "pt_PT", "pt_BR", "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO",
    "hr_HR", "sl_SI", "sv_SE", "no_NO", "da_DK", "fi_FI", "et_EE", "lv_LV", "lt_LT", "tr_TR", "id_ID",
    "fil_PH", "vi_VN", "ga_IE", "az_AZ", "sq_AL", "bs_BA", "zu_ZA", "yo_NG", "is_IS", "mt_MT", "en_TH",
]  # fmt: skip

# {PER} full name, {FIRST}/{LAST} one part, {CITY} {COUNTRY} {STREET} {ADDRESS} {ORG} {TITLE}; {EMAIL} {PHONE}
# {DATE} {NUM} are distractors (left unlabelled: the pattern recognizers mask those).
TEMPLATES = [
    "Hi, my name is {PER} and I'd like more books like the last one.",
    "hey it's {FIRST}, can you recommend something for tonight?",
    "This is {PER} from {CITY}. I ordered twice last month.",
    "Please send it to {PER}, {ADDRESS}",
    "Ship to:\n{PER}\n{ADDRESS}",
    "Name: {PER}\nAddress: {ADDRESS}\nPhone: {PHONE}",
    "Customer: {PER} | Email: {EMAIL} | City: {CITY}",
    "Thanks,\n{FIRST}",
    "Best regards,\n{PER}\n{ORG}",
    "Cheers, {FIRST} {LAST}",
    "Kind regards\n{LAST}",
    "-- {PER}, {CITY}, {COUNTRY}",
    "I met {LAST} yesterday at the {ORG} office in {CITY}.",
    "{PER} asked whether the jazz album is back in stock.",
    "{FIRST} says the thriller was too long, {LAST} loved it.",
    "My friend {FIRST} lives on {STREET} in {CITY}.",
    "We moved from {CITY} to {CITY} in {DATE}.",
    "i spoke with {LAST} about the order, they said it ships from {COUNTRY}",
    "Could {PER} pick up the parcel at {ADDRESS}?",
    "Booked a trip to {CITY} with {FIRST} and {FIRST}.",
    "Review by {PER}: loved {TITLE}, not so much {TITLE}.",
    "Just finished {TITLE}. {FIRST} recommended it.",
    "Is {TITLE} available as an audiobook?",
    "Watching {TITLE} tonight, any films like it?",
    "{ORG} has a sale on cookbooks this week.",
    "Contact {PER} ({EMAIL}) or call {PHONE}.",
    "Dear {PER},\nyour order {NUM} was shipped to {ADDRESS}.",
    "Dear Mr {LAST}, thank you for your review.",
    "Dr. {LAST} suggested a vegetarian diet.",
    "Hello {FIRST}! Welcome to the club.",
    "Invoice for {PER}, {STREET}, {CITY}",
    "Delivery address: {STREET}, {CITY}, {COUNTRY}",
    "Wir wohnen in {CITY}; please ship to {ADDRESS}.",
    "{FIRST} {LAST} was born in {CITY}, {COUNTRY}.",
    "Recommended by {PER}.",
    "Thanks {FIRST} for the tip about {TITLE}!",
    "From: {PER} <{EMAIL}>\nTo: {PER}\nSubject: book club in {CITY}",
    "{PER} and {PER} would like a cooking class in {CITY}.",
    "Gift for my sister {FIRST}, she lives near {CITY}.",
    "I'm visiting {COUNTRY} in {DATE}; anything about its history?",
    "Send the voucher to {FIRST}.{LAST} at {EMAIL} please",
    "Our team at {ORG} in {CITY} wants jazz for the office.",
    "Please update my address to {ADDRESS}",
    "The package for {LAST} went to {STREET} instead of {STREET}.",
    "{FIRST} here - loved the hiking guide for {CITY}!",
    "what would {FIRST} like? she likes {TITLE} a lot",
    "my neighbour {PER} recommended {TITLE}",
    "Any books by {PER}?",
    "Listening to {PER} all evening.",
    "Is this the same {LAST} who wrote {TITLE}?",
    # negatives: text with capitalised words that are no one's name or place
    "I loved the jazz album, do you have more like it?",
    "Looking for a cosy mystery for a rainy Sunday evening.",
    "The Python course was great, what should I learn next?",
    "Any vegetarian recipes for Christmas dinner?",
    "Order {NUM} arrived on {DATE}, thanks!",
    "The Kindle edition has a typo on page 12.",
    "Five stars. The Audio CD sounds great.",
    "Please cancel my subscription from Monday.",
]
_TITLE_WORDS = (
    "Silent Night River Shadow Garden Winter Summer Stone Glass Iron Paper Moon Star Empire Ocean Forest Secret "
    "Last First Broken Golden Hidden Lost Wild Northern Midnight City Road House Song Machine Dream Fire Light"
).split()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Labelled texts in the format written by ``benchmarks/privacy/corpora.py``."""
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"training file not found: {p}")
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


class _Generator:
    def __init__(self, seed: int) -> None:
        faker = require("faker")
        self.rng = random.Random(seed)
        self.fakers: list[Any] = []
        for i, loc in enumerate(LOCALES):
            try:
                f = faker.Faker(loc)
                f.seed_instance(seed * 1000 + i)
                self._call(f, "name")
                self.fakers.append(f)
            except Exception:  # a locale this Faker version lacks
                continue
        if not self.fakers:
            raise ExportError("Faker has none of the synthetic data locales")
        self.base = faker.Faker("en_US")  # for what a locale's provider lacks (phone formats, companies…)
        self.base.seed_instance(seed)

    def _call(self, f: Any, method: str) -> str:
        try:
            return str(getattr(f, method)())
        except AttributeError:
            return str(getattr(self.base, method)())

    def _case(self, s: str) -> str:
        r = self.rng.random()
        return s.lower() if r < 0.15 else s.upper() if r < 0.22 else s

    def value(self, slot: str, f: Any) -> tuple[str, str | None]:
        """(text, label) for one slot."""
        rng = self.rng
        if slot == "PER":
            if rng.random() < 0.8:
                name = self._call(f, "name")
            else:
                name = self._call(f, "first_name") + " " + self._call(f, "last_name")
            name = re.sub(r"^(?:Mr|Mrs|Ms|Miss|Dr|Prof|Herr|Frau|Sr|Sra|M|Mme|Ing|Dott)\.?\s+", "", name)
            return self._case(name), "PERSON"
        if slot == "FIRST":
            return self._case(self._call(f, "first_name")), "PERSON"
        if slot == "LAST":
            return self._case(self._call(f, "last_name")), "PERSON"
        if slot == "CITY":
            return self._case(self._call(f, "city")), "LOCATION"
        if slot == "COUNTRY":
            return self._call(f, "country"), "LOCATION"
        if slot == "STREET":
            return self._call(f, "street_address"), "STREET_ADDRESS"
        if slot == "ADDRESS":
            addr = self._call(f, "address")
            return (addr if rng.random() < 0.5 else addr.replace("\n", ", ")), "STREET_ADDRESS"
        if slot == "ORG":
            return self._call(f, "company"), "ORGANIZATION"
        if slot == "TITLE":
            n = rng.randint(1, 3)
            return ("The " if rng.random() < 0.5 else "") + " ".join(rng.sample(_TITLE_WORDS, n)), "MISC"
        if slot == "EMAIL":
            return self._call(f, "email"), None
        if slot == "PHONE":
            return self._call(f, "phone_number"), None
        if slot == "DATE":
            return self._call(f, "date"), None
        return str(rng.randint(1000, 99999999)), None

    def doc(self) -> dict[str, Any]:
        template = self.rng.choice(TEMPLATES)
        f = self.rng.choice(self.fakers)
        text, spans, pos = "", [], 0
        for m in re.finditer(r"\{(\w+)\}", template):
            text += template[pos : m.start()]
            value, label = self.value(m.group(1), f)
            if label is not None:
                spans.append([len(text), len(text) + len(value), label])
            text += value
            pos = m.end()
        text += template[pos:]
        return {"text": text, "spans": spans}


def synthetic(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` generated labelled texts (deterministic for a seed)."""
    gen = _Generator(seed)
    for _ in range(n):
        yield gen.doc()
