"""Recognizers of our own that close the gaps of Presidio's defaults (street addresses, postcodes, names in
lower case or capitals, dates of birth, non-US national ids, international phone formats, account and card
numbers with unusual separators, obfuscated e-mails, URLs and handles)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import RedactionError
from .names import AMBIGUOUS_GIVEN_NAMES, GIVEN_NAMES, NOT_SURNAMES


@dataclass(frozen=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def iban_ok(raw: str) -> bool:
    s = re.sub(r"[\s-]", "", raw).upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


STREET_TYPES = (
    "street|st|avenue|ave|av|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|place|pl|square|sq|terrace|ter|"
    "way|close|crescent|cres|parkway|pkwy|highway|hwy|circle|cir|trail|trl|row|mews|gardens|gdns|walk|green|park|"
    "alley|aly|annex|arcade|bend|bluff|bluffs|bottom|branch|bridge|brook|brooks|burg|bypass|camp|canyon|cape|"
    "causeway|center|centre|circles|cliff|cliffs|club|common|commons|corner|corners|course|courts|cove|coves|"
    "creek|crest|crossing|crossroad|curve|dale|dam|divide|drives|estate|estates|expressway|extension|extensions|"
    "fall|falls|ferry|field|fields|flat|flats|ford|fords|forest|forge|forges|fork|forks|fort|freeway|garden|"
    "gateway|glen|glens|greens|grove|groves|harbor|harbors|haven|heights|hill|hills|hollow|inlet|island|islands|"
    "isle|junction|junctions|key|keys|knoll|knolls|lake|lakes|landing|lanes|light|lights|loaf|lock|locks|lodge|"
    "loop|mall|manor|manors|meadow|meadows|mill|mills|mission|motorway|mount|mountain|mountains|neck|orchard|"
    "oval|overpass|parks|parkways|pass|passage|path|pike|pine|pines|plain|plains|plaza|point|points|port|ports|"
    "prairie|radial|ramp|ranch|rapid|rapids|rest|ridge|ridges|river|roads|route|run|shoal|shoals|shore|shores|"
    "skyway|spring|springs|spur|spurs|squares|station|stravenue|stream|streets|summit|throughway|trace|track|"
    "trafficway|trailer|tunnel|turnpike|underpass|union|unions|valley|valleys|via|viaduct|view|views|village|"
    "villages|ville|vista|walks|wall|ways|well|wells|wharf|yard|yards|burgs|centers|land|rue"
)
_UNIT = r"(?:,?[ \t]+(?:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.?|room|rm\.?|#)[ \t]*[\w-]{1,6})?"
_NAME_WORD = r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'’.-]*"

PATTERNS: list[tuple[str, re.Pattern[str], float]] = [
    # --- e-mail, including obfuscated forms ---
    ("EMAIL_ADDRESS", re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+", re.I), 1.0),
    (
        "EMAIL_ADDRESS",
        re.compile(
            r"[\w.+-]+\s*(?:\[at\]|\(at\)|\{at\})\s*[\w-]+"
            r"(?:(?:\s*(?:\[dot\]|\(dot\)|\{dot\}|\sdot\s)\s*|\.(?=[\w-]))[\w-]+)+",
            re.I,
        ),
        0.9,
    ),
    ("EMAIL_ADDRESS", re.compile(r"[\w.+-]+(?:\s+dot\s+[\w.+-]+)*\s+at\s+[\w-]+(?:\s+dot\s+[\w-]+)+", re.I), 0.9),
    # --- device and advertising ids (UUIDs of any version: IDFA, GAID, install ids) ---
    ("DEVICE_ID", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), 0.95),
    # --- a precise position: "48.85837, 2.294481" ---
    (
        "COORDINATES",
        re.compile(r"(?<![\d.])[-+]?\d{1,3}\.\d{3,}°?\s*[NS]?\s*[,;/ ]\s*[-+]?\d{1,3}\.\d{3,}°?\s*[EWO]?(?![\d.])"),
        0.9,
    ),
    # --- URLs and handles (carry names) ---
    ("URL", re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"']+", re.I), 0.95),
    (
        "URL",
        re.compile(
            r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|co|uk|de|fr|me|info|biz|dev|app|eu|us|ca)"
            r"(?:/[^\s<>\"']*)?\b",
            re.I,
        ),
        0.6,
    ),
    ("USERNAME", re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,29}[A-Za-z0-9_])?\b"), 0.9),
    # --- IP addresses ---
    (
        "IP_ADDRESS",
        re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d])"),
        0.95,
    ),
    ("IP_ADDRESS", re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}(?::?[0-9a-f]{1,4}|:)(?![\w:])", re.I), 0.7),
    # --- national ids ---
    ("NATIONAL_ID", re.compile(r"(?<!\d)\d{3}[\s.-]\d{2}[\s.-]\d{4}(?!\d)"), 0.85),  # US SSN-like
    ("NATIONAL_ID", re.compile(r"\b[A-Z]{2}\s?(?:\d{2}\s?){3}[A-Z]\b|\b[A-Z]{2}\s?\d{6}\s?[A-Z]\b"), 0.85),  # UK NINO
    (
        "NATIONAL_ID",
        re.compile(r"\b[12]\s?\d{2}\s?(?:0[1-9]|1[0-2])\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}\s?\d{2}\b"),
        0.9,
    ),  # FR INSEE
    ("NATIONAL_ID", re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", re.I), 0.9),  # IT codice fiscale
    ("NATIONAL_ID", re.compile(r"\b\d{8}-?[A-HJ-NP-TV-Z]\b"), 0.85),  # ES DNI
    ("NATIONAL_ID", re.compile(r"\b[XYZ]-?\d{7}-?[A-Z]\b"), 0.85),  # ES NIE
    ("NATIONAL_ID", re.compile(r"\b[A-Z]{5}\d{4}[A-Z]\b"), 0.8),  # IN PAN
    ("NATIONAL_ID", re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)"), 0.9),  # BR CPF
    (
        "NATIONAL_ID",
        re.compile(
            r"\b(?:passport|id card|identity card|national id|id number|id no|identity number|"
            r"personal number|social security number|insurance number|licen[cs]e|ssn|sin|nino|bsn|tax id|tin|nif|"
            r"nie|dni|cpf|aadhaar|steuer-?id|steuer-?identifikationsnummer|steuernummer|personalausweis(?:nummer)?|"
            r"ausweis(?:nummer)?|reisepass(?:nummer)?|sozialversicherungsnummer|burgerservicenummer|"
            r"paspoort(?:nummer)?|rijbewijs(?:nummer)?|identiteitskaart|documento de identidad|"
            r"n[úu]mero de identifica[cç]i[óo]n|pasaporte|nss|carta d'identit[àa]|codice fiscale|passaporto|"
            r"tessera sanitaria|cart[ãa]o de cidad[ãa]o|n[úu]mero de contribuinte|n[úu]mero de utente|"
            r"carte d'identit[ée]|num[ée]ro fiscal)\b"
            r"(?:\s*(?:no\.?|nr\.?|n\.?[º°o]\.?|number|nummer|n[úu]mero|numero|#|:|is|ist|es|è|é))*\s*"
            r"(?=[A-Z0-9 -]*\d)[A-Z0-9][A-Z0-9 -]{4,20}[A-Z0-9]\b",
            re.I,
        ),
        0.85,
    ),
    # --- dates of birth and full dates ---
    (
        "DATE_OF_BIRTH",
        re.compile(r"(?<!\d)(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2})(?!\d)"),
        0.7,
    ),
    (
        "DATE_OF_BIRTH",
        re.compile(
            r"\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+"
            r"(?:19|20)\d{2}\b",
            re.I,
        ),
        0.7,
    ),
    (
        "DATE_OF_BIRTH",
        re.compile(
            r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+"
            r"(?:19|20)\d{2}\b",
            re.I,
        ),
        0.7,
    ),
    # --- street addresses and postcodes ---
    (
        "STREET_ADDRESS",
        re.compile(
            rf"\b\d{{1,5}}[A-Za-z]?(?:[-/]\d{{1,5}})?,?[ \t]+(?:{_NAME_WORD}[ \t]+){{0,4}}"
            rf"(?:{STREET_TYPES})\b\.?{_UNIT}",
            re.I,
        ),
        0.85,
    ),
    (
        "STREET_ADDRESS",
        re.compile(
            r"\b[A-ZÄÖÜ][\wäöüßëéï-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|straat|laan|"
            r"hof|dreef|singel|plein|gracht|kade|pad|steeg|baan|dijk|markt|lei|dreve|boulevard|"
            r"gatan|gata|gate|vägen|vagen|väg|veien|vegen|vei|gränd|torget|vej|vænget|gade|stræde|plads|"
            r"katu|tie|polku|kuja|tee|iela|gatvė|utca|ulica|ul\.)[ \t]*,?[ \t]*\d{1,4}[a-z]?\b",
            re.I,
        ),
        0.85,
    ),
    (
        "STREET_ADDRESS",
        re.compile(
            r"\b(?:\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+)?"
            r"(?:rue|avenue|boulevard|bd|chemin|impasse|allée|quai|place|via|viale|"
            r"piazza|calle|avenida|plaza|paseo|rua|travessa|carrer|strada|incrocio|vicolo|corso|largo|borgo|contrada|"
            r"rotonda|canale|piazzale|stretto|lungomare|galleria|cuesta|pasaje|pasadizo|ronda|rambla|callejón|carretera|"
            r"cañada|glorieta|urbanización|vía|vial|c\.|camino|route|cours|passage|ul\.|pl\.|plac|al\.|aleja|os\.|osiedle)"
            r"[ \t]+(?:(?:de|del|della|des|du|la|le|les|da|do|dos)[ \t]+)*"
            r"(?:[A-Za-zÀ-ÿ][\wÀ-ÿ'’-]*[ \t]+){0,3}?[A-Za-zÀ-ÿ][\wÀ-ÿ'’-]*(?:,?[ \t]+\d{1,4}[a-z]?)?",
            re.I,
        ),
        0.6,
    ),
    ("STREET_ADDRESS", re.compile(r"\b(?:p\.?\s?o\.?\s+box|postfach|apartado|boîte postale)\s+\d{1,6}\b", re.I), 0.85),
    (
        "STREET_ADDRESS",
        re.compile(
            r"\b(?:USNS|USNV|USS|USCGC|PSC|Unit)\s+[\w ]{1,30}?,?\s+(?:FPO|APO|DPO|Box\s+\d+)"
            r"(?:[\w ,]{0,20}?\b(?:AA|AE|AP)\b)?",
            re.I,
        ),
        0.85,
    ),
    ("POSTCODE", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.I), 0.7),  # UK
    ("POSTCODE", re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d\b", re.I), 0.7),  # CA
    ("POSTCODE", re.compile(r"\b[A-Z]{2},?[ \t]+\d{5}(?:-\d{4})?\b"), 0.8),  # US: "NV 89501"
    # lines of a postal address written as a block (anchors the block grows from: see addresses.py)
    (
        "POSTCODE",
        re.compile(
            r"(?m)^[ \t]*(?:[A-Z]{1,3}-)?\d{2,6}(?:[- ]\d{2,4})?(?:[ \t]+|-)(?=[A-ZÀ-ÞĀ-Ž])[^\n\d,:;!?]{2,40}?[ \t]*$"
        ),
        0.6,
    ),  # "33-106 Tarnów", "110231 Bogota", "01004-Guatemala City" on a line of their own
    ("POSTCODE", re.compile(r"(?m)(?<=[A-Za-zÀ-ÿ])[ \t]+\d{4,6}[ \t]*$"), 0.55),  # "Wellington 6011" ending a line
    (
        "STREET_ADDRESS",
        re.compile(
            r"\b[A-ZÀ-ÞĀ-Ž][\wÀ-ÿĀ-ž'’.-]*[ \t]+(?:[\wÀ-ÿĀ-ž'’.-]+[ \t]+){0,2}"
            r"(?:tér|utca|út|körút|köz|ulica|ul\.|aleja|al\.|gatan|gata|vej|gade|"
            r"tänav|iela|gatvė|straße|strasse|weg|gasse|platz|allee)[ \t]+\d{1,4}[a-z]?\b\.?"
        ),
        0.8,
    ),  # "Erzsébet tér 19.", "Dózsa György út 5", "Kalvarijų gatvė 3"
    (
        "POSTCODE",
        re.compile(r"(?<![\d.,])\d{3}[ \t]\d{2}[ \t]+(?=[A-ZÀ-ÞĀ-Ž])[^\W\d_]+(?:[ \t-][A-ZÀ-ÞĀ-Ž][^\W\d_]+)*"),
        0.6,
    ),  # SE/CZ/SK/GR: "411 34 Gothenburg", "110 00 Praha"
    (
        "STREET_ADDRESS",
        re.compile(rf"(?m)^[ \t]*(?:[A-ZÀ-Þ][\w'’.-]*[ \t]+){{1,4}}(?i:{STREET_TYPES.replace('|rue', '')})\.?[ \t]*$"),
        0.6,
    ),  # "Beach Road" as a line of its own
    ("POSTCODE", re.compile(r"\b(?:NSW|VIC|QLD|SA|WA|TAS|NT|ACT),?[ \t]+\d{4}\b"), 0.8),  # AU: "Sydney NSW 2000"
    (
        "POSTCODE",
        re.compile(r"(?<![\d.,])[1-9]\d{3}[ \t]?(?!AD\b|BC\b|CE\b)[A-Z]{2}\b(?![.,]?\d)"),
        0.6,
    ),  # NL: "1017 GC"
    (
        "POSTCODE",
        re.compile(r"(?<![\d.,-])\d{2}-\d{3}[ \t]+(?=[A-ZÀ-ÞĀ-Ž])[^\W\d_]+(?:[ \t-][A-ZÀ-ÞĀ-Ž][^\W\d_]+)*"),
        0.6,
    ),  # PL: "69-723 Łowicz"
    (
        "POSTCODE",
        re.compile(r"(?<=[A-Za-zÀ-ÿ])[ ,-]+(?:\d{6}|\d{3} \d{3})(?![\d.,])"),
        0.55,
    ),  # IN PIN / CN / RU / SG codes after a place name: "Bengaluru 560001", "Beijing 100020"
    (
        "STREET_ADDRESS",
        re.compile(
            r"[\u3400-\u9fff0-9０-９]{2,}(?:省|市|区|區|县|縣|镇|鎮|路|街|道|巷|弄|号|號|楼|樓|室)[\u3400-\u9fff0-9０-９]*"
        ),
        0.8,
    ),  # CJK addresses: "上海市浦东新区世纪大道100号"
    (
        "POSTCODE",
        re.compile(r"(?<![\d.,])\d{4,5}(?:-\d{3,4})?[ \t]+[A-ZÀ-Þ][a-zà-ÿ]+(?:[ \t-][A-ZÀ-Þ][a-zà-ÿ]+)*\b"),
        0.5,
    ),  # EU: "75001 Paris"
    (
        "POSTCODE",
        re.compile(r"\b(?:zip|zip code|postcode|postal code|plz|cp)\s*:?\s*[A-Z0-9][A-Z0-9 -]{2,8}[A-Z0-9]\b", re.I),
        0.85,
    ),
]

# Digit runs: phone numbers, card and account numbers with any separators.
_DIGIT_RUN = re.compile(r"(?<![\w])(?:\+|00)?\(?\d(?:[\s().\-/_]{0,3}\d){6,}\)?(?:\s*(?:x|ext\.?|#)\s*\d{1,6})?", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[\s-]?[A-Z0-9]){11,30}\b", re.I)


def digit_hits(text: str) -> Iterator[Hit]:
    for m in _IBAN.finditer(text):
        # the pattern may run on into following words ("… 7654 32 in the name"): try shorter ends
        cand = m.group()
        for end in range(len(cand), 14, -1):
            if (
                cand[end - 1].isalnum()
                and (end == len(cand) or not cand[end].isalnum() or cand[end - 1].isdigit())
                and iban_ok(cand[:end])
            ):
                yield Hit("IBAN_CODE", m.start(), m.start() + end, 1.0)
                break
    for m in _DIGIT_RUN.finditer(text):
        s = m.group()
        digits = re.sub(r"\D", "", s.split("x")[0].split("X")[0].split("ext")[0])
        n = len(digits)
        if 13 <= n <= 19 and luhn_ok(digits):
            yield Hit("CREDIT_CARD", m.start(), m.end(), 0.95)
        elif (
            s.lstrip().startswith(("+", "(", "00"))
            or (7 <= n <= 15 and re.search(r"[\s().\-/]", s))
            or (n in (10, 11) and digits.startswith("0"))
        ):
            yield Hit("PHONE_NUMBER", m.start(), m.end(), 0.8)
        else:
            yield Hit("ACCOUNT_NUMBER", m.start(), m.end(), 0.7)


PLACE_PREFIXES = frozenset(
    "santa san saint st port lake mount fort new cape glen lago monte sainte los las el la le "
    "upper lower north south east west great little".split()
)
_WORD = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'’-]*")
_NAME_CUES = re.compile(
    r"(?:\b(?:my name is|my name's|name\s*:|names?\s+are|holder\s*:|attn\.?|attention\s*:|recipient\s*:|"
    r"customer\s*:|contact\s*:|signed by|i am|i'm|this is|call me|ask for|regards,?|in the name of|"
    r"thanks,?|thank you,?|cheers,?|sincerely,?|signed,?|best,?|dear|hi,?|hello,?|hey,?|by|for|to|"
    r"mr\.?|mrs\.?|ms\.?|miss|dr\.?|prof\.?|sir|madam)|(?:^|\s)[-–—])\s*",
    re.I,
)
_STRONG_CUES = (
    "name",
    "holder",
    "attn",
    "attention",
    "recipient",
    "customer",
    "contact",
    "signed",
    "regards",
    "sincerely",
    "dear",
    "call me",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "-",
    "–",
    "—",
    "thanks",
    "thank you",
    "cheers",
    "best",
)
_MULTI_TOKEN_CUES = ("by", "for", "to")  # weak cues that need a two-word name


def name_hits(text: str) -> Iterator[Hit]:
    """Person names the NER model misses: given-name gazetteer (any case) + following surname-like word, and
    capitalised or lower-case words right after strong cues ("my name is", "regards,", "Dear")."""
    words = list(_WORD.finditer(text))
    for i, m in enumerate(words):
        w = m.group().lower()
        ambiguous = w in AMBIGUOUS_GIVEN_NAMES
        if not (w in GIVEN_NAMES or ambiguous):
            continue
        if i > 0 and words[i - 1].group().lower() in PLACE_PREFIXES and m.start() - words[i - 1].end() <= 1:
            continue  # Santa Monica, San Diego, Port Elizabeth
        end = m.end()
        nxt = words[i + 1] if i + 1 < len(words) else None
        surname = (
            nxt is not None
            and nxt.start() - end <= 2
            and nxt.group().lower() not in NOT_SURNAMES
            and text[end : nxt.start()].strip() == ""
            # "olivia wants": a lower-case English word after a given name is the sentence, not her surname
            and not (nxt.group()[:1].islower() and in_dictionary(nxt.group()))
        )
        if surname and ambiguous:  # "Will Turner" yes, "will travel" / "Summer Salads" (a title) no
            assert nxt is not None
            surname = m.group()[0].isupper() and nxt.group()[0].isupper() and not title_like(text, m.start())
        if surname:
            assert nxt is not None
            end = nxt.end()
            nn = words[i + 2] if i + 2 < len(words) else None  # middle name or double surname
            if (
                nn is not None
                and nn.start() - end <= 2
                and nn.group().lower() not in NOT_SURNAMES
                and nn.group()[:1].isupper()
                and nxt.group()[:1].isupper()
                and text[end : nn.start()].strip() == ""
            ):
                end = nn.end()
            yield Hit("PERSON", m.start(), end, 0.75)
        elif not ambiguous and not title_like(text, m.start()):
            yield Hit("PERSON", m.start(), end, 0.6)
    for cue in _NAME_CUES.finditer(text):
        j = next((k for k, m in enumerate(words) if m.start() >= cue.end()), None)
        if j is None or words[j].start() != cue.end():
            continue
        if words[j].group().lower() in PLACE_PREFIXES:
            continue  # "to Santa Monica", "from Los Angeles"
        while j + 1 < len(words) and _TITLE_RE.match(words[j].group()):
            j += 1  # "Account holder: Dott. Giorgia …"
        first = words[j]
        if first.group().lower() in NOT_SURNAMES:
            continue
        cue_text = cue.group().strip().lower()
        strong = any(cue_text.startswith(c) or cue_text == c for c in _STRONG_CUES)
        title = not strong and title_like(text, first.start())

        def name_like(w: str) -> bool:
            # capitalised, or not an English word, or a known given name
            return w[:1].isupper() or w.lower() in GIVEN_NAMES or not in_dictionary(w)

        if (
            cue_text in _MULTI_TOKEN_CUES
            and not first.group()[:1].isupper()
            and in_dictionary(first.group())
            and first.group().lower() not in GIVEN_NAMES
        ):
            continue
        if not (strong and first.group()[:1].isupper()) and not name_like(first.group()):
            continue
        if (
            not strong
            and in_dictionary(first.group())
            and first.group().lower() not in GIVEN_NAMES
            and not first.group()[:1].isupper()
        ):
            continue
        end = first.end()
        for nxt in words[j + 1 : j + 3]:
            if text[end : nxt.start()] != " " or nxt.group().lower() in NOT_SURNAMES or not name_like(nxt.group()):
                break
            if first.group()[:1].isupper() != nxt.group()[:1].isupper():
                break
            end = nxt.end()
        if not strong:
            tokens = re.findall(r"[A-Za-zÀ-ÿ'’-]+", text[first.start() : end])
            unknown = [t for t in tokens if t.lower() in GIVEN_NAMES or not in_dictionary(t)]
            if cue_text in _MULTI_TOKEN_CUES and len(tokens) < 2:
                continue  # "for Beginners", "to Paris"
            if (title or cue_text in _MULTI_TOKEN_CUES) and not unknown:
                continue  # "Python for Absolute Beginners", "to the Rescue"
            if len(tokens) < 2 and not unknown:
                continue
        yield Hit("PERSON", first.start(), end, 0.75 if strong else 0.55)


# --- a dictionary of English words, to tell names from ordinary capitalised words -------------------------
DICTIONARY: frozenset[str] = frozenset()


def set_dictionary(words: frozenset[str]) -> None:
    global DICTIONARY
    DICTIONARY = words


_SUFFIXES = ("'s", "’s", "s", "es", "ed", "d", "ing", "ly", "er", "ers", "est", "ies", "ied")


def in_dictionary(word: str) -> bool:
    """Is ``word`` (or a simple inflection of it) an English dictionary word? Without the word list (read from
    the English spaCy model when the masker loads) the name rules cannot tell a word from a name, so asking
    fails closed rather than guessing."""
    w = word.lower().strip("'’.-")
    if not DICTIONARY:
        raise RedactionError(
            "PII masking has no English word list loaded (the spaCy model's lemma table); nothing can be checked"
        )
    if w in DICTIONARY or w in NOT_SURNAMES:
        return True
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 2:
            base = w[: -len(suf)]
            if base in DICTIONARY or base + "e" in DICTIONARY or (suf in ("ies", "ied") and base + "y" in DICTIONARY):
                return True
    return "-" in w and all(in_dictionary(p) for p in w.split("-") if p)


_CAP = r"(?:[A-ZÀ-Þ][a-zà-ÿ'’]+(?:-[A-ZÀ-Þ]?[a-zà-ÿ'’]+)*|[A-ZÀ-Þ]{2,}(?:-[A-ZÀ-Þ]{2,})*)"
_PARTICLE = r"(?:de|da|del|della|der|den|di|du|van|von|la|le|bin|ben|al|el|dos|das)"
_TITLE = (
    r"(?:Dott|Dr|Dra|Prof|Sr|Sra|Srta|Mr|Mrs|Ms|Mme|Mlle|Herr|Frau|Ing|Sig|Sig\.ra|ra|Shri|Smt|Dhr|Mevr|Ir|Dipl)\.?"
)
_CAP_SEQ = re.compile(rf"(?<![\w'’-])(?:{_TITLE}\s+)?{_CAP}(?:\s+(?:{_PARTICLE}\s+)?{_CAP}){{1,3}}(?![\w'’-])")
_TITLE_RE = re.compile(_TITLE + r"$", re.I)


_POST_CUE = re.compile(
    r"(?<![\w'’-])([A-Za-zÀ-ÿ'’-]+)\s+([A-Za-zÀ-ÿ'’-]+)\s+(?:here|asked|said|says|wrote|writes|"
    r"called|requested|wants|needs|told|thinks)\b"
)


def post_cue_hits(text: str) -> Iterator[Hit]:
    """``<first> <last> asked/said/here …`` — names followed by a reporting verb, in any case."""
    for m in _POST_CUE.finditer(text):
        a, b = m.group(1), m.group(2)
        if a.lower() in NOT_SURNAMES or b.lower() in NOT_SURNAMES:
            continue
        capitalised = (a[:1].isupper() and b[:1].isupper()) and not title_like(text, m.start())
        if capitalised or (
            (a.lower() in GIVEN_NAMES or not in_dictionary(a)) and (not in_dictionary(b) or b[:1].isupper())
        ):
            yield Hit("PERSON", m.start(1), m.end(2), 0.6)


def capitalised_name_hits(text: str) -> Iterator[Hit]:
    """Two to four capitalised (or all-capital) words with at least one that is not an English word: a name
    the statistical NER did not know (names from outside its training data, names in capitals)."""
    for m in _CAP_SEQ.finditer(text):
        tokens = [
            t for t in re.split(r"\s+", m.group()) if t and not re.fullmatch(_PARTICLE, t) and not _TITLE_RE.match(t)
        ]
        if len(tokens) < 2 and not re.match(_TITLE, m.group()):
            continue
        low = [t.lower() for t in tokens]
        if low[0] in PLACE_PREFIXES or any(t in NOT_SURNAMES for t in low):
            continue
        if all(in_dictionary(t) and t.lower() not in GIVEN_NAMES for t in tokens):
            continue
        upper = all(t.isupper() for t in tokens)
        if title_like(text, m.start()) and not upper and tokens[0].lower() not in GIVEN_NAMES:
            continue
        yield Hit("PERSON", m.start(), m.end(), 0.6)


_ABBREV = (
    "Dott",
    "Dr",
    "Prof",
    "Sr",
    "Sra",
    "Srta",
    "Mr",
    "Mrs",
    "Ms",
    "Mme",
    "Mlle",
    "Ing",
    "Sig",
    "Dhr",
    "St",
    "Mevr",
    "Ir",
    "Dipl",
    "Jr",
    "Capt",
    "Apt",
    "No",
)
_SENT_END = re.compile("".join(rf"(?<!\b{a})" for a in _ABBREV) + r"[.!?]|\n")
_TITLE_SMALL = frozenset(
    "from with into onto over upon under like near than about after before across through "
    "without within between along among".split()
)
HONORIFICS = re.compile(
    r"\b(?:mr|mrs|ms|miss|dr|prof|professor|sir|lady|lord|captain|capt|detective|inspector|"
    r"doctor|father|sister|brother|uncle|aunt|judge|officer|agent|coach|dear)\.?\s+$",
    re.I,
)


def sentence_bounds(text: str, pos: int) -> tuple[int, int]:
    start = max((m.end() for m in _SENT_END.finditer(text, 0, pos)), default=0)
    m = _SENT_END.search(text, pos)
    return start, (m.start() if m else len(text))


def title_like(text: str, pos: int) -> bool:
    """True when the sentence around ``pos`` is written in Title Case (a heading or a title), where NER and
    capitalisation say little about names: every word of four or more letters after the first is capitalised."""
    a, b = sentence_bounds(text, pos)
    words = [w for w in re.findall(r"[A-Za-zÀ-ÿ]+", text[a:b])[1:] if len(w) >= 4]
    if not words:
        return True
    lower = sum(not w[0].isupper() and w.lower() not in _TITLE_SMALL for w in words)
    return lower == 0 or (len(words) >= 6 and lower == 1)


def plausible_ner_person(text: str, start: int, end: int) -> bool:
    """Accept a statistical-NER PERSON span only with corroboration: a known given name, an honorific before
    it, or two or more words in an ordinary (not Title Case) sentence."""
    words = re.findall(r"[A-Za-zÀ-ÿ'’-]+", text[start:end])
    if any(w.lower() in GIVEN_NAMES for w in words):
        return True
    if HONORIFICS.search(text[max(0, start - 20) : start]):
        return True
    return len(words) >= 2 and not title_like(text, start)


_COMPOUND = re.compile(r"(?<![\w@#])#?[A-Z]{0,4}(?:[A-Z][a-z]+){2,4}(?![\w'’-])")


def compound_name_hits(text: str) -> Iterator[Hit]:
    """A name written as one word, the way hashtags and user names write it: "#AlanPardew", "EmmaWillis" —
    a known given name followed by a capitalised part that is not an English word."""
    for m in _COMPOUND.finditer(text):
        parts = re.findall(r"[A-Z][a-z]+", m.group())
        if any(a.lower() in GIVEN_NAMES and len(b) > 2 and not in_dictionary(b) for a, b in zip(parts, parts[1:])):
            yield Hit("PERSON", m.start(), m.end(), 0.6)


_INITIALS = re.compile(
    r"(?<![\w.’'-])((?:[A-Z]\.\s?){1,2})((?:Mc|Mac|O['’])?[A-ZÀ-Þ][a-zà-ÿ'’]+(?:-[A-ZÀ-Þ][a-zà-ÿ'’]+)?)(?![\w'’-])"
)


def initials_hits(text: str) -> Iterator[Hit]:
    """An initial (or two) and a capitalised surname: "A. Dale", "J.R. Tolkien", "M. McCague" — how sports
    results, bylines and signatures write names. "Plan B. Then …": a sentence word after the dot is no name."""
    for m in _INITIALS.finditer(text):
        surname = m.group(2)
        if surname.lower() in NOT_SURNAMES or surname.lower() in PLACE_PREFIXES:
            continue
        if m.group(1).count(".") > 1 and in_dictionary(surname):
            continue  # "U.S. Army", "U.K. Government": initials of a country, not of a person
        yield Hit("PERSON", m.start(), m.end(), 0.6)


def find_all(text: str, english: bool = True) -> list[Hit]:
    """Every pattern's hits. ``english=False`` (German, Spanish, Italian, Dutch, Portuguese text) leaves out the
    rules that tell a name by its not being an English word: there every capitalised noun would be one."""
    hits = [Hit(e, m.start(), m.end(), s) for e, rx, s in PATTERNS for m in rx.finditer(text)]
    hits.extend(digit_hits(text))
    hits.extend(name_hits(text))
    hits.extend(initials_hits(text))
    if english:
        hits.extend(capitalised_name_hits(text))
        hits.extend(post_cue_hits(text))
        hits.extend(compound_name_hits(text))
    return hits
