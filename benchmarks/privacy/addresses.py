"""Postal addresses from OpenCage's address-formatting test cases, rendered inside messages, with gold spans per
address component: the per-component leak rates of the masker.

Nobody on this project wrote these addresses or chose their components. Source: OpenCageData/address-formatting
@ 28c47f9 (MIT licence, Copyright (c) 2020 Opencage GmbH), ``testcases/countries/*.yaml``: each YAML document
holds the ``components`` of one place (road, house_number, city, postcode, state, country, ... as OpenStreetMap
names them) and the ``expected`` postal address the formatter renders from them, one line per component group;
also three of the formatter's tables, ``conf/{state,county,country}_codes.yaml``, used to find values in the text.
Nothing here is committed but this script: it reads the files from a local copy of the repository at that
commit (a git clone or mirror, e.g. what the search tool's ``fetch`` brings), checks one sha256 over every file
it reads (their paths and per-file sha256s, which the manifest lists), and writes JSON lines
``{"id", "text", "spans": [[start, end, label], ...], "country", "layout", "lang", "frame"}`` and
``addresses.MANIFEST.json`` (source, sha256s, licence, counts; apart from corpora.py's MANIFEST.json, which a
full rebuild of those corpora rewrites from scratch).

    python benchmarks/privacy/addresses.py --mirror /work/.mirror --out benchmarks/privacy/data
    python benchmarks/privacy/addresses.py --measure --split dev            # per-component leaks, ours and stock

What is built. Each test case's ``expected`` block (its lines stripped, empty lines dropped) is rendered twice,
with frames drawn by a random generator seeded by the case's id: (a) ``lines``: the block as it stands, one
component group per line, inside a message ("Hi, please ship it to:\\n<block>\\nThanks!"); (b) ``inline``: the
lines joined by ", " inside a sentence ("My new address is <a>, <b>, <c>. Can you update it?"). Frames are
English or French (French with probability 0.7 in French-speaking countries, 0.2 elsewhere; ``lang`` says
which), since the gate refuses running text in other languages; the address lines keep their own language.
Cases whose block is mostly non-Latin script (under half of its letters Latin) are skipped and counted in the
manifest. ``\\uXXXX`` escapes that the YAML leaves literal (Malta's ``\\u0120``) are decoded in both the block
and the components. Splits: by country file, ``dev`` when the first byte of sha256(file name) is even, else
``test`` (about half each; develop on dev only).

How labels were decided. A component is labelled only where its value appears in the rendered block (whole
words; spaces may be hyphens; case-blind as a fallback for values of 4+ characters), longest value first and
never over a span already labelled; where two components share a value the smaller one (the order of OpenCage's
``conf/components.yaml``, smallest to largest) labels it. The formatter drops, abbreviates and rewrites many
values, so a value is also looked for as its state or county code (the formatter's ``conf/state_codes.yaml``
and ``conf/county_codes.yaml``: California -> "CA"), a postcode with its separators ignored (30170011 ->
"30170-011"; of a list, the first), and, failing that, as its longest leading or trailing run of words
("Free State of Bavaria" -> "Bavaria", "Welford on Avon CP" -> "Welford on Avon"). Groups, by OpenCage's
component names and their aliases:

- STREET: road (street, street_name, footway, path, pedestrian, square, road_reference[_intl]) and
  house_number (street_number, housenumber). Number and road adjacent on a line are one span: "82 Clerkenwell
  Road", "Gontardstraße 7", "Rua Silveira Martins, 68".
- HOUSE: house (building, public_building, isolated_dwelling) and every named place the formatter puts on the
  first line (bank, hotel, restaurant, school, post_box, attention, address29, name, ...: any key not listed
  here). Named buildings and businesses, reported apart: a business name is not personal data in itself.
- PERSON: ``attention`` when it starts with a title (Mr., Mrs., Ms., Dr.): the recipient (two cases, both dev).
- TOWN: hamlet (locality), village, neighbourhood (suburb, city_district, district, quarter, residential, ...),
  postal_city, city (town, township), municipality (local_administrative_area, area, subcounty), county
  (county_code, department), place (farmland).
- REGION: state_district, state (province, state_code, territory), region, island, archipelago.
- POSTCODE: postcode (postal_code, partial_postcode).
- COUNTRY: country (country_name); also what is left of a line that names a country in the formatter's
  ``conf/country_codes.yaml`` (it prints "United States of America" for "USA", "France" after "Mayotte") or is
  the case's own country code ("Saipan, MP 96950").
- ADDRESS_OTHER: whatever else is left of a block line ("Channel Islands", "DC" of "Washington, DC"). Still
  part of the address: counted as a leak target, and kept out of over-masking, which counts only the frame's
  words. A leftover glued to a span ("Djibouti" + "-Ville") joins it.

UNIT has no source: the test cases have no unit, flat, level or suite component (``building`` and ``house``
name buildings; ``residential`` is OpenCage's alias of neighbourhood, a named residential area), so no UNIT
label is written. ``country_code`` and ``continent`` are not labelled as components.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = "OpenCageData/address-formatting"
COMMIT = "28c47f9daeaeb55213c439ec7c31c247bfe76321"
TESTCASES = "testcases/countries/"
CONF = ("conf/state_codes.yaml", "conf/county_codes.yaml", "conf/country_codes.yaml")
# sha256 over "<path>\t<sha256 of the file>\n" for every file read, in path order (the manifest lists them)
FILES_SHA256 = "8367712431ec64ccfce45c5f0321ac3600eaf3859d9c7bc84b4f45f95abb0614"
LICENCE = "MIT (Copyright (c) 2020 Opencage GmbH)"

LABELS = ("STREET", "HOUSE", "PERSON", "TOWN", "REGION", "POSTCODE", "COUNTRY", "ADDRESS_OTHER")
# OpenCage's components, smallest to largest (conf/components.yaml), with their aliases: rank and label
_ORDER: list[tuple[str, tuple[str, ...], str]] = [
    ("house_number", ("street_number", "housenumber"), "STREET"),
    ("house", ("building", "public_building", "isolated_dwelling"), "HOUSE"),
    (
        "road",
        ("footway", "street", "street_name", "path", "pedestrian", "road_reference", "road_reference_intl", "square"),
        "STREET",
    ),
    ("place", ("farmland", "allotments"), "TOWN"),
    ("hamlet", ("locality", "croft"), "TOWN"),
    ("village", (), "TOWN"),
    (
        "neighbourhood",
        (
            "suburb",
            "city_district",
            "commune",
            "district",
            "quarter",
            "borough",
            "city_block",
            "residential",
            "commercial",
            "industrial",
            "houses",
            "subdistrict",
            "subdivision",
            "ward",
        ),
        "TOWN",
    ),
    ("postal_city", (), "TOWN"),
    ("city", ("town", "township"), "TOWN"),
    ("municipality", ("local_administrative_area", "area", "subcounty"), "TOWN"),
    ("county", ("county_code", "department"), "TOWN"),
    ("state_district", (), "REGION"),
    ("postcode", ("postal_code", "partial_postcode"), "POSTCODE"),
    ("state", ("province", "state_code", "territory"), "REGION"),
    ("region", ("oblast", "raion"), "REGION"),
    ("island", (), "REGION"),
    ("archipelago", (), "REGION"),
    ("country", ("country_name",), "COUNTRY"),
]
GROUP: dict[str, tuple[int, str]] = {}
for _rank, (_name, _aliases, _label) in enumerate(_ORDER):
    for _key in (_name, *_aliases):
        GROUP[_key] = (_rank, _label)
UNLABELLED = {"country_code", "continent"}
_HOUSE_RANK = GROUP["house"][0]
_TITLE = re.compile(r"(Mr|Mrs|Ms|Miss|Dr|Mme|M)\.?\s", re.IGNORECASE)

FRENCH_COUNTRIES = {"fr", "be", "ch", "lu", "mc", "ca", "sn", "ci", "ml", "bf", "ne", "tg", "bj", "ga", "cg", "cd"}
FRENCH_COUNTRIES |= {"cm", "mg", "ht", "gf", "gp", "mq", "re", "yt", "nc", "pf", "pm", "wf", "bl", "mf", "tn", "ma"}
FRAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("lines", "en"): (
        "Hi, please ship it to:\n{}\nThanks!",
        "Hello,\n\nCould you send the parcel to this address:\n{}\n\nMany thanks",
        "My billing address is now\n{}\nPlease update your records.",
        "Deliver to:\n{}",
        "Here is where we are staying:\n{}\nSee you soon!",
    ),
    ("lines", "fr"): (
        "Bonjour, merci d'envoyer le colis à :\n{}\nMerci !",
        "Bonjour,\n\nVoici ma nouvelle adresse :\n{}\n\nCordialement",
        "Adresse de livraison :\n{}",
        "Pouvez-vous expédier la commande ici :\n{}\nBonne journée",
    ),
    ("inline", "en"): (
        "My new address is {}. Can you update it?",
        "Please send the invoice to {}, thanks.",
        "I moved to {} last month.",
        "Ship to {} please.",
        "We will meet at {} tomorrow at noon.",
    ),
    ("inline", "fr"): (
        "Ma nouvelle adresse est {}. Pouvez-vous la mettre à jour ?",
        "Merci d'envoyer la facture à {}.",
        "J'habite désormais à l'adresse suivante : {}.",
        "Livraison : {}, avant midi svp.",
    ),
}
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SEP = re.compile(r"[ ,]{1,3}")
_STRIP = " \t-\u2013\u2014/|"
_GENERIC = {"city", "county", "district", "region", "state", "province", "municipality", "town", "village", "ward"}
Span = tuple[int, int, str]


@dataclass(frozen=True)
class Case:
    country: str
    index: int
    components: dict[str, str]
    lines: list[str]

    @property
    def code(self) -> str:
        return self.components.get("country_code", self.country).upper()


@dataclass(frozen=True)
class Codes:
    """The formatter's own tables: state and county codes (by country, name -> code), and country names."""

    states: dict[str, dict[str, str]]
    counties: dict[str, dict[str, str]]
    countries: re.Pattern[str]


def _git_dir(root: Path) -> Path:
    return root / ".git" if (root / ".git").is_dir() else root


def read_sources(root: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files at COMMIT, refused unless their combined sha256 matches; and each file's sha256."""
    git = ["git", "--git-dir", str(_git_dir(root))]
    try:
        listing = subprocess.run(
            [*git, "ls-tree", "--name-only", COMMIT, TESTCASES], capture_output=True, check=True, text=True
        ).stdout.split()
        files = {
            p: subprocess.run([*git, "show", f"{COMMIT}:{p}"], capture_output=True, check=True).stdout
            for p in [*listing, *CONF]
        }
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise SystemExit(f"cannot read {REPO}@{COMMIT[:7]} from {root} ({e})") from None
    digests = {p: hashlib.sha256(files[p]).hexdigest() for p in sorted(files)}
    combined = hashlib.sha256("".join(f"{p}\t{d}\n" for p, d in digests.items()).encode()).hexdigest()
    if combined != FILES_SHA256:
        raise SystemExit(f"{REPO}@{COMMIT[:7]}: sha256 {combined} does not match the expected {FILES_SHA256}")
    return files, digests


def codes(files: dict[str, bytes]) -> Codes:
    import yaml  # PyYAML comes with presidio-analyzer

    tables = []
    for path in CONF[:2]:
        table: dict[str, dict[str, str]] = {}
        for cc, entries in yaml.load(files[path].decode("utf-8"), Loader=yaml.BaseLoader).items():
            for code, names in entries.items():
                for name in names.values() if isinstance(names, dict) else [names]:
                    table.setdefault(cc.upper(), {})[_unescape(name).casefold()] = code
        tables.append(table)
    names = re.findall(r"^\"?[A-Z]{2}\"?: # (.+?)\s*$", files[CONF[2]].decode("utf-8"), re.MULTILINE)
    alternation = "|".join(_spaced(n) for n in sorted(names, key=len, reverse=True) if len(n) >= 4)
    return Codes(tables[0], tables[1], re.compile(rf"(?<!\w)(?:{alternation})(?!\w)"))


def cases(path: str, data: bytes) -> list[Case]:
    import yaml

    out = []
    # BaseLoader: every scalar a string ("no" stays Norway's code, postcode 01234 stays 01234)
    for i, doc in enumerate(d for d in yaml.load_all(data.decode("utf-8"), Loader=yaml.BaseLoader) if d):
        comps = {str(k): _unescape(str(v)).strip() for k, v in (doc.get("components") or {}).items() if str(v).strip()}
        lines = [ln.strip() for ln in _unescape(str(doc.get("expected") or "")).splitlines() if ln.strip()]
        if lines:
            out.append(Case(Path(path).stem, i, comps, lines))
    return out


def _unescape(s: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)


def latin_share(lines: Sequence[str]) -> float:
    letters = [c for ln in lines for c in ln if c.isalpha()]
    return sum(unicodedata.name(c, "").startswith("LATIN") for c in letters) / max(1, len(letters))


def split_of(path: str) -> str:
    return "dev" if hashlib.sha256(Path(path).name.encode()).digest()[0] % 2 == 0 else "test"


def _patterns(key: str, label: str, value: str) -> list[tuple[str, int]]:
    """Regexes for a component's value, tried in order: exact, then case-blind (not for short codes)."""
    if label == "POSTCODE":  # the formatter regroups postcodes (30170011 -> 30170-011) and keeps a list's first
        chars = [c for c in re.split(r"[,;]", value)[0] if c.isalnum()]
        return [(r"[\s\-\u00a0]?".join(re.escape(c) for c in chars), 0)] if chars else []
    out = [(re.escape(value), 0), (_spaced(value), 0)]
    for v in (value, value.strip(" ,;.-")):
        if len(v) >= 4:
            out.append((_spaced(v), re.IGNORECASE))
    return out


def _spaced(value: str) -> str:
    """A regex for the value where a space may also be a hyphen ("Saint Barthélemy" / "Saint-Barthélemy")."""
    return r"[\s\-]".join(re.escape(w) for w in value.split(" "))


def _free(spans: list[Span], s: int, e: int) -> bool:
    return all(e <= s2 or s >= e2 for s2, e2, _ in spans)


def _mark(
    lines: list[str], spans: list[list[Span]], patterns: list[tuple[str, int]], label: str, word: str = r"\w"
) -> bool:
    """Label every free whole-word occurrence of the first pattern that has one."""
    for pattern, flags in patterns:
        found = [
            (i, m.span())
            for i, ln in enumerate(lines)
            for m in re.finditer(rf"(?<!{word}){pattern}(?!{word})", ln, flags)
        ]
        free = [(i, s, e) for i, (s, e) in found if _free(spans[i], s, e)]
        for i, s, e in free:
            spans[i].append((s, e, label))
        if free:
            return True
    return False


def label_lines(case: Case, tables: Codes) -> tuple[list[list[Span]], Counter[str]]:
    """Per line, the (start, end, label) spans of the components found there; and the components not found."""
    spans: list[list[Span]] = [[] for _ in case.lines]
    todo = []
    for key, value in case.components.items():
        if key in UNLABELLED:
            continue
        rank, label = GROUP.get(key, (_HOUSE_RANK, "HOUSE"))  # named places go on the first line, like house
        if key == "attention" and _TITLE.match(value):
            label = "PERSON"
        pats = _patterns(key, label, value)
        table = tables.states if key in ("state", "province") else tables.counties if key == "county" else {}
        code = table.get(case.code, {}).get(value.casefold())
        if code:  # the formatter writes "CA" for California, "RM" for Roma
            pats.append((re.escape(code), 0))
        todo.append((rank == 0, -len(value), rank, key, value, label, pats))
    todo.sort(key=lambda t: t[:5])
    found: set[str] = set()
    for is_number, _, _, key, _, label, pats in todo:
        if not is_number and _mark(case.lines, spans, pats, label):
            found.add(key)
    for is_number, _, _, key, value, label, _ in todo:  # then a part of a name ("Free State of Bavaria")
        if is_number or key in found or label == "POSTCODE":
            continue
        words = value.split()
        for k in range(len(words) - 1, 0, -1):
            parts = [" ".join(words[:k]).strip(" ,;."), " ".join(words[-k:]).strip(" ,;.")]
            ok = [p for p in parts if len(p) >= 4 and p[0].isupper() and p.casefold() not in _GENERIC]
            # whole words, not a hyphenated name's half ("Saint" of "Saint-Barthélemy")
            if ok and _mark(case.lines, spans, [(re.escape(p), 0) for p in ok], label, r"[\w\-]"):
                found.add(key)
                break
    for is_number, _, _, key, value, _, _ in todo:  # house numbers: joined to an adjacent road
        if is_number and _place_number(case.lines, spans, value):
            found.add(key)
    missing = Counter(t[5] for t in todo if t[3] not in found)
    return [_merge(ln, _residue(ln, sp, case.code, tables)) for ln, sp in zip(case.lines, spans)], missing


def _place_number(lines: list[str], spans: list[list[Span]], value: str) -> bool:
    """A house number joins the road it stands next to, else it is labelled STREET where first found free."""
    free: tuple[int, int, int] | None = None
    for i, line in enumerate(lines):
        for m in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", line):
            s, e = m.span()
            if not _free(spans[i], s, e):
                continue
            for j, (s2, e2, lab) in enumerate(spans[i]):
                if lab == "STREET" and (
                    (e <= s2 and _SEP.fullmatch(line[e:s2])) or (s >= e2 and _SEP.fullmatch(line[e2:s]))
                ):
                    spans[i][j] = (min(s, s2), max(e, e2), "STREET")
                    return True
            free = free or (i, s, e)
    if free is None:
        return False
    spans[free[0]].append((free[1], free[2], "STREET"))
    return True


def _residue(line: str, spans: list[Span], code: str, tables: Codes) -> list[Span]:
    """What the components leave of a line: glued on to a span it touches ("Djibouti" + "-Ville"), COUNTRY
    where it names a country (or is the case's country code: "Saipan, MP"), else ADDRESS_OTHER."""
    spans = sorted(spans)
    cov = bytearray(len(line))
    for s, e, _ in spans:
        cov[s:e] = b"\x01" * (e - s)
    for m in re.finditer(r"[^,;]+", "".join("," if c else ch for ch, c in zip(line, cov))):
        s, e = m.span()
        while s < e and line[s] in _STRIP:
            s += 1
        while e > s and line[e - 1] in _STRIP:
            e -= 1
        piece = line[s:e]
        if not any(c.isalnum() for c in piece):
            continue
        left = [j for j, sp in enumerate(spans) if sp[1] == m.start() and not line[m.start()].isspace()]
        right = [j for j, sp in enumerate(spans) if sp[0] == m.end() and not line[m.end() - 1].isspace()]
        after_country = [
            j for j, sp in enumerate(spans) if sp[2] == "COUNTRY" and sp[1] <= s and not line[sp[1] : s].strip()
        ]
        if after_country:  # "United States" + "of America"
            spans[after_country[0]] = (spans[after_country[0]][0], e, "COUNTRY")
        elif left:
            spans[left[0]] = (spans[left[0]][0], e, spans[left[0]][2])
        elif right:
            spans[right[0]] = (s, spans[right[0]][1], spans[right[0]][2])
        elif piece == code or tables.countries.search(piece):
            spans.append((s, e, "COUNTRY"))
        else:
            spans.append((s, e, "ADDRESS_OTHER"))
    return sorted(spans)


def _merge(line: str, spans: list[Span]) -> list[Span]:
    """Spans of one label with nothing but spaces between them are one ("United States" + "of America")."""
    out: list[Span] = []
    for s, e, lab in spans:
        if out and out[-1][2] == lab and not line[out[-1][1] : s].strip():
            out[-1] = (out[-1][0], e, lab)
        else:
            out.append((s, e, lab))
    return out


def render(case: Case, line_spans: list[list[Span]], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}/{case.country}/{case.index}")
    docs = []
    for layout, sep in (("lines", "\n"), ("inline", ", ")):
        lang = "fr" if rng.random() < (0.7 if case.country in FRENCH_COUNTRIES else 0.2) else "en"
        frame = rng.choice(FRAMES[(layout, lang)])
        offset = frame.index("{}")
        text = frame.replace("{}", sep.join(case.lines), 1)
        spans: list[list[int | str]] = []
        for line, ls in zip(case.lines, line_spans):
            spans.extend([offset + s, offset + e, lab] for s, e, lab in ls)
            offset += len(line) + len(sep)
        docs.append(
            {
                "id": f"{case.country}-{case.index}-{layout}",
                "text": text,
                "spans": spans,
                "country": case.country,
                "layout": layout,
                "lang": lang,
                "frame": frame,
            }
        )
    return docs


def build(out: Path, root: Path, seed: int = 0) -> dict[str, Any]:
    files, digests = read_sources(root)
    tables = codes(files)
    out.mkdir(parents=True, exist_ok=True)
    docs: dict[str, list[dict[str, Any]]] = {"dev": [], "test": []}
    stats: dict[str, dict[str, Any]] = {
        s: {"cases": 0, "skipped_non_latin": 0, "spans": Counter(), "not_in_text": Counter()} for s in docs
    }
    for path, data in files.items():
        if not path.startswith(TESTCASES):
            continue
        split = split_of(path)
        for case in cases(path, data):
            if latin_share(case.lines) < 0.5:
                stats[split]["skipped_non_latin"] += 1
                continue
            line_spans, missing = label_lines(case, tables)
            rendered = render(case, line_spans, seed)
            for doc in rendered:  # the spans must cover exactly the component text they name
                assert all(s < e and doc["text"][s:e].strip() == doc["text"][s:e] for s, e, _ in doc["spans"]), doc
                assert all(a[1] <= b[0] for a, b in zip(doc["spans"], doc["spans"][1:])), doc
            docs[split].extend(rendered)
            stats[split]["cases"] += 1
            stats[split]["not_in_text"].update(missing)
            stats[split]["spans"].update(lab for _, _, lab in rendered[0]["spans"])  # both layouts: the same spans
    # its own manifest: corpora.py rewrites MANIFEST.json from scratch on a full rebuild, which would drop these
    manifest_path = out / "addresses.MANIFEST.json"
    manifest: dict[str, Any] = {}
    for split, ds in docs.items():
        jsonl = out / f"addresses.{split}.jsonl"
        with open(jsonl, "w", encoding="utf-8") as f:
            for doc in ds:
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        st = stats[split]
        manifest[f"addresses.{split}"] = {
            "source": f"{REPO}@{COMMIT}:{TESTCASES} (and {', '.join(CONF)})",
            "sha256": FILES_SHA256,
            "licence": LICENCE,
            "lang": "en, fr (frames); addresses in their own language",
            "texts": len(ds),
            "cases": st["cases"],
            "skipped_non_latin": st["skipped_non_latin"],
            "spans_each_layout": dict(sorted(st["spans"].items())),
            "components_not_in_text": dict(sorted(st["not_in_text"].items())),
            "files": {p: d for p, d in digests.items() if not p.startswith(TESTCASES) or split_of(p) == split},
            "seed": seed,
        }
        print(
            f"{jsonl}: {len(ds)} texts from {st['cases']} cases ({st['skipped_non_latin']} non-Latin skipped); "
            f"spans in each layout {dict(sorted(st['spans'].items()))}"
        )
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def measure_split(data: Path, split: str, max_docs: int, seed: int, results_dir: Path | None = None) -> None:
    """Per-component leaks of our gate and of stock Presidio on a sample of the split (measure.py's metrics)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    sys.path.insert(0, str(Path(__file__).parent))
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from bench_privacy import sample, stock_presidio
    from measure import measure

    from ondevice_rec.errors import RedactionError
    from ondevice_rec.privacy.masking import get_redactor

    path = data / f"addresses.{split}.jsonl"
    docs = sample(
        [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()], max_docs, seed
    )
    lang = {d["text"]: d["lang"] for d in docs}
    stock = {lg: stock_presidio(lg) for lg in ("en", "fr")}
    redactor = get_redactor()
    maskers = {
        "odrec": lambda t: [(s.start, s.end) for s in redactor.analyze(t)],
        "presidio": lambda t: stock[lang[t]](t),
    }
    results: dict[str, dict[str, Any]] = {}
    verbatim: dict[str, Counter[str]] = defaultdict(Counter)  # odrec's leaks, by label
    partial: dict[str, Counter[str]] = defaultdict(Counter)  # odrec's part-masked entities, masked parts as "…"
    refused: Counter[str] = Counter()  # odrec's refusals by frame
    kept: list[dict[str, Any]] = []  # the texts odrec did not refuse
    frames: Counter[str] = Counter(d["frame"] for d in docs)
    why: Counter[str] = Counter()
    for name, mask in maskers.items():
        seen: dict[str, list[tuple[int, int]]] = {}

        def recording(text: str, mask: Any = mask, seen: dict[str, list[tuple[int, int]]] = seen) -> Any:
            try:
                seen[text] = spans = list(mask(text))
            except RedactionError as err:
                why[re.sub(r";.*", "", str(err))] += 1
                raise
            return spans

        results[name] = measure(recording, docs, LABELS, RedactionError)
        if name != "odrec":
            continue
        kept = [d for d in docs if d["text"] in seen]
        for d in docs:
            if d["text"] not in seen:
                refused[d["frame"]] += 1
                continue
            cov = bytearray(len(d["text"]))
            for s, e in seen[d["text"]]:
                cov[s:e] = b"\x01" * (e - s)
            for s, e, lab in d["spans"]:
                if not any(cov[s:e]):
                    verbatim[lab][d["text"][s:e]] += 1
                elif not all(cov[i] for i in range(s, e) if d["text"][i].isalnum()):
                    partial[lab][
                        re.sub(r"(?:\x00)+", "…", "".join("\x00" if cov[i] else d["text"][i] for i in range(s, e)))
                    ] += 1
    results["presidio*"] = measure(maskers["presidio"], kept, LABELS, RedactionError)
    print(f"\naddresses.{split}: {len(docs)} texts, seed {seed}; n: entities in the texts not refused")
    print(f"presidio*: stock Presidio on the {len(kept)} texts odrec did not refuse\n")
    print("| label | " + " | ".join(f"{n} n | {n} verbatim | {n} partial" for n in results) + " |")
    print("|---|" + "---|---|---|" * len(results))
    for lab in LABELS:
        rows = [results[n][lab] for n in results]
        if not any(r["entities"] for r in rows):
            continue
        cells = " | ".join(f"{r['entities']} | {_pct(r['verbatim_leak'])} | {_pct(r['partial_leak'])}" for r in rows)
        print(f"| {lab} | {cells} |")
    for key, title in (("over_masking", "over-masking (frame words)"), ("refusal_rate", "refused texts")):
        print(f"| {title} | " + " | ".join(f" | {_pct(results[n][key])} | " for n in results) + " |")
    for n in maskers:
        lat = results[n].get("latency", {})
        print(f"{n}: refused {results[n]['refused']} of {len(docs)}; ms p50 {lat.get('ms_p50')}")
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
        report = {
            "command": "python benchmarks/privacy/addresses.py " + " ".join(sys.argv[1:]),
            "split": split,
            "texts": len(docs),
            "seed": seed,
            "results": {n: {k: v for k, v in r.items() if k != "latency"} for n, r in results.items()},
            "refusals": dict(why.most_common()),
        }
        out = results_dir / f"addresses.{split}.json"
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nodrec refused: {', '.join(f'{c} {k!r}' for k, c in why.most_common())}")
    for frame, c in refused.most_common():
        print(f"  {c} of {frames[frame]} texts framed {frame!r}")
    for title, counts in (("verbatim leaks", verbatim), ("partial leaks (masked parts shown as …)", partial)):
        print(f"\nodrec, most common {title}:")
        for lab in LABELS:
            if counts[lab]:
                top = ", ".join(f"{v!r}×{c}" if c > 1 else repr(v) for v, c in counts[lab].most_common(15))
                print(f"  {lab}: {top}")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--source", type=Path, default=None, help=f"a local copy of {REPO} (else under --mirror)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--measure", action="store_true", help="measure leaks on --split (reads --out)")
    ap.add_argument("--split", default="dev", choices=["dev", "test"])
    ap.add_argument("--max-docs", type=int, default=300, help="sample of the split (0 = all)")
    ap.add_argument("--results", type=Path, default=None, help="with --measure: write addresses.SPLIT.json here")
    args = ap.parse_args()
    if args.measure:
        measure_split(args.out, args.split, args.max_docs, args.seed, args.results)
    else:
        build(args.out, args.source or args.mirror / REPO.replace("/", "+") / "repo", args.seed)


if __name__ == "__main__":
    main()
