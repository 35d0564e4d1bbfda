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
# Chat, form and signature texts in the EU languages the second tagger covers; German negatives carry capitalised
# nouns that are nobody's name.
TEMPLATES_BY_LANGUAGE: dict[str, list[str]] = {
    "en": TEMPLATES,
    "de": [
        "Hallo, ich heiße {PER} und wohne in {CITY}.",
        "Ich bin {FIRST} aus {CITY}. Habt ihr mehr Krimis wie den letzten?",
        "Bitte schickt das Paket an {PER}, {ADDRESS}",
        "Lieferadresse:\n{PER}\n{ADDRESS}",
        "Name: {PER}\nAnschrift: {ADDRESS}\nTelefon: {PHONE}",
        "Viele Grüße\n{FIRST}",
        "Mit freundlichen Grüßen\n{PER}\n{ORG}",
        "Meine Schwester {FIRST} wohnt in der {STREET} in {CITY}.",
        "Herr {LAST} hat mir {TITLE} empfohlen.",
        "Frau {LAST} fragt, ob das Hörbuch wieder da ist.",
        "Wir sind von {CITY} nach {CITY} gezogen.",
        "{PER} und {PER} suchen einen Kochkurs in {CITY}.",
        "Gibt es Bücher von {PER}?",
        "Geschenk für {FIRST}, sie mag {TITLE} sehr.",
        "Die Bestellung {NUM} kam am {DATE} an, danke!",
        "Ich suche einen spannenden Roman für den Urlaub am Meer.",
        "Die Lieferung war pünktlich, aber die Verpackung war beschädigt.",
        "Haben Sie Kochbücher mit vegetarischen Rezepten für Weihnachten?",
    ],
    "es": [
        "Hola, me llamo {PER} y vivo en {CITY}.",
        "Soy {FIRST}, de {CITY}. ¿Tenéis más novelas como la última?",
        "Por favor, envíalo a {PER}, {ADDRESS}",
        "Dirección de envío:\n{PER}\n{ADDRESS}",
        "Nombre: {PER}\nDirección: {ADDRESS}\nTeléfono: {PHONE}",
        "Un saludo,\n{FIRST}",
        "Atentamente,\n{PER}\n{ORG}",
        "Mi amiga {FIRST} vive en {STREET}, {CITY}.",
        "El señor {LAST} me recomendó {TITLE}.",
        "{PER} pregunta si el audiolibro vuelve a estar disponible.",
        "Nos mudamos de {CITY} a {CITY} en {DATE}.",
        "¿Hay libros de {PER}?",
        "El pedido {NUM} llegó ayer, ¡gracias!",
        "Busco una novela de misterio para un domingo lluvioso.",
    ],
    "it": [
        "Ciao, mi chiamo {PER} e abito a {CITY}.",
        "Sono {FIRST} di {CITY}. Avete altri gialli come l'ultimo?",
        "Per favore spedite il pacco a {PER}, {ADDRESS}",
        "Indirizzo di consegna:\n{PER}\n{ADDRESS}",
        "Nome: {PER}\nIndirizzo: {ADDRESS}\nTelefono: {PHONE}",
        "Cordiali saluti,\n{PER}\n{ORG}",
        "Grazie, {FIRST}",
        "Mia sorella {FIRST} vive in {STREET} a {CITY}.",
        "Il signor {LAST} mi ha consigliato {TITLE}.",
        "{PER} chiede se l'audiolibro è di nuovo disponibile.",
        "Ci siamo trasferiti da {CITY} a {CITY}.",
        "Ci sono libri di {PER}?",
        "L'ordine {NUM} è arrivato il {DATE}, grazie!",
        "Cerco un romanzo leggero per le vacanze al mare.",
    ],
    "nl": [
        "Hoi, ik ben {PER} en ik woon in {CITY}.",
        "Ik ben {FIRST} uit {CITY}. Hebben jullie meer thrillers zoals de vorige?",
        "Stuur het pakket alsjeblieft naar {PER}, {ADDRESS}",
        "Afleveradres:\n{PER}\n{ADDRESS}",
        "Naam: {PER}\nAdres: {ADDRESS}\nTelefoon: {PHONE}",
        "Met vriendelijke groet,\n{PER}\n{ORG}",
        "Groetjes, {FIRST}",
        "Mijn zus {FIRST} woont aan de {STREET} in {CITY}.",
        "Meneer {LAST} heeft mij {TITLE} aangeraden.",
        "{PER} vraagt of het luisterboek weer op voorraad is.",
        "We zijn van {CITY} naar {CITY} verhuisd.",
        "Zijn er boeken van {PER}?",
        "Bestelling {NUM} is op {DATE} aangekomen, bedankt!",
        "Ik zoek een spannend boek voor een regenachtige zondag.",
    ],
    "pt": [
        "Olá, chamo-me {PER} e moro em {CITY}.",
        "Sou a {FIRST}, de {CITY}. Têm mais romances como o último?",
        "Por favor enviem para {PER}, {ADDRESS}",
        "Morada de entrega:\n{PER}\n{ADDRESS}",
        "Nome: {PER}\nEndereço: {ADDRESS}\nTelefone: {PHONE}",
        "Atenciosamente,\n{PER}\n{ORG}",
        "Obrigado, {FIRST}",
        "A minha irmã {FIRST} mora na {STREET}, em {CITY}.",
        "O senhor {LAST} recomendou-me {TITLE}.",
        "{PER} pergunta se o audiolivro voltou ao stock.",
        "Mudámo-nos de {CITY} para {CITY}.",
        "Há livros de {PER}?",
        "A encomenda {NUM} chegou no dia {DATE}, obrigado!",
        "Procuro um romance policial para um domingo chuvoso.",
    ],
}
_LANGUAGE_LOCALES = {
    "en": (),  # English texts take any locale's names (as the English-only recipe always did)
    "de": ("de_",),
    "es": ("es_",),
    "it": ("it_",),
    "nl": ("nl_",),
    "pt": ("pt_",),
}
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
    def __init__(self, seed: int, languages: tuple[str, ...] = ("en",)) -> None:
        faker = require("faker")
        unknown = [lang for lang in languages if lang not in TEMPLATES_BY_LANGUAGE]
        if unknown or not languages:
            raise ExportError(f"no synthetic templates for {unknown or 'an empty language list'}")
        self.languages = languages
        self.rng = random.Random(seed)
        self.fakers: list[Any] = []
        self.locales: list[str] = []
        for i, loc in enumerate(LOCALES):
            try:
                f = faker.Faker(loc)
                f.seed_instance(seed * 1000 + i)
                self._call(f, "name")
                self.fakers.append(f)
                self.locales.append(loc)
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
        lang = self.languages[0] if len(self.languages) == 1 else self.rng.choice(self.languages)
        template = self.rng.choice(TEMPLATES_BY_LANGUAGE[lang])
        own = [f for f, loc in zip(self.fakers, self.locales) if loc.startswith(_LANGUAGE_LOCALES[lang])]
        # mostly the language's own locales (its names, streets and postcodes), sometimes anyone's
        f = self.rng.choice(own if own and self.rng.random() < 0.7 else self.fakers)
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


def synthetic(n: int, seed: int, languages: tuple[str, ...] = ("en",)) -> Iterator[dict[str, Any]]:
    """``n`` generated labelled texts in ``languages``' templates (deterministic for a seed)."""
    gen = _Generator(seed, languages)
    for _ in range(n):
        yield gen.doc()
