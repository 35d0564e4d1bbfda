"""The egress gate: the one way data leaves the device.

``send(purpose, payload, transport, user_id=...)`` checks, in order: the purpose was declared by the app and the
user granted consent for it; the payload is JSON-serialisable and within the size limit; every string in it
(keys included) is PII-masked; an audit entry (purpose, destination, time, counts of masked entities by type,
the detectors that ran, sha256 of the masked payload — never the raw text) is committed; only then is
``transport(masked)`` called.
Any failure blocks the send, records the refusal in the audit log and raises. Deny by default.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError, EgressBlocked, EgressTransportError, RedactionError
from ..inputs.items import check_id
from ..inputs.limits import MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES
from ..ranking import RankingConfig, event_weight
from ..store import Store
from .consent import PERSONALIZATION, ConsentLedger
from .known import KnownText
from .masking import HARD, SUPPORTED_LANGUAGES, Redactor, get_redactor
from .names import GIVEN_NAMES

REMOTE_CANDIDATES = "remote-candidates"
__all__ = ["EgressGate", "EgressTransportError", "mask_payload", "MAX_PAYLOAD_BYTES", "REMOTE_CANDIDATES"]


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# a key that looks like a field name (letters, digits, "_", ".", "-"; no spaces) names a field rather than a
# person or place: only structured identifiers are masked in it, so "ip", "idfa" and "first" keep the schema the
# server expects, unless it is written like a name ("heather_smith"). A key with spaces or other characters
# ("Heather Smith", "a@b.com") is masked like any text.
_SCHEMA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")


def _name_like_key(key: str) -> bool:
    """A field name written like a person's name: a common given name followed by another part
    ("heather_smith", "john.doe", "maryJones")."""
    parts = [p.casefold() for p in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", key)]
    return any(p in GIVEN_NAMES and len(q) >= 2 for p, q in zip(parts, parts[1:]))


# fields whose value is personal data by what the field is: a bare "75018" or 48.85837 says nothing on its own
_FIELD_TYPES = {
    **dict.fromkeys(("zip", "zipcode", "postcode", "postalcode", "plz", "cap", "cp", "codepostal"), "POSTCODE"),
    **dict.fromkeys(("lat", "latitude", "lon", "lng", "long", "longitude", "coords", "geo", "location"), "COORDINATES"),
}


def _by_key(key: str, value: Any) -> str | None:
    """The entity type a field's scalar value is by its name (``{"zip": 10115}``, ``{"lat": 48.85837}``), or None."""
    kind = _FIELD_TYPES.get(re.sub(r"[^a-z]", "", key.casefold()))
    if kind is None or isinstance(value, bool) or value is None:
        return None
    if kind == "POSTCODE" and isinstance(value, (str, int)) and re.fullmatch(r"[A-Za-z0-9 -]{3,10}", str(value)):
        return kind if any(c.isdigit() for c in str(value)) else None
    if kind == "COORDINATES" and isinstance(value, (int, float, str)):
        return kind if re.fullmatch(r"-?\d{1,3}\.\d{3,}", str(value).strip()) else None
    return None


def mask_payload(
    payload: Any,
    *,
    allow: Sequence[str] = (),
    redactor: Redactor | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    timeout: float | None = None,
    known: KnownText | None = None,
) -> tuple[Any, Counter[str]]:
    """Mask every string (and dict key, and long number) in a JSON-like payload; count masked entities by
    type. Raises :class:`EgressBlocked` for anything that cannot be checked (fails closed)."""
    m = _mask(payload, allow=allow, redactor=redactor, max_bytes=max_bytes, timeout=timeout, known=known)
    return m.payload, m.counts


@dataclass(frozen=True)
class _Masked:
    payload: Any
    counts: Counter[str]
    detectors: tuple[str, ...]  # every detector that checked some string of the payload


def _mask(
    payload: Any,
    *,
    allow: Sequence[str],
    redactor: Redactor | None,
    max_bytes: int,
    timeout: float | None,
    known: KnownText | None,
) -> _Masked:
    try:
        raw = _canonical(payload)
    except (TypeError, ValueError) as e:
        raise EgressBlocked(f"payload is not JSON-serialisable: {e}") from None
    except RecursionError:
        raise EgressBlocked("payload is nested too deeply") from None
    if len(raw) > max_bytes:
        raise EgressBlocked(f"payload is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        red = redactor or get_redactor()
    except RedactionError as e:
        raise EgressBlocked(f"PII check unavailable, nothing sent: {e}") from None
    counts: Counter[str] = Counter()
    ran: set[str] = set()
    allow_t = tuple(allow)

    def mask_str(text: str, *, schema_key: bool = False) -> str:
        try:
            r = red.redact(text, allow_t, timeout=timeout, known=known)
        except RedactionError as e:
            raise EgressBlocked(f"PII check failed, nothing sent: {e}") from None
        except Exception as e:  # fail closed on anything unexpected
            raise EgressBlocked(f"PII check failed, nothing sent: {type(e).__name__}: {e}") from None
        ran.update(r.detectors)
        if schema_key and not _name_like_key(text):  # "ip", "idfa", "first": a field name; identifiers only
            hard = [sp for sp in r.spans if sp.entity_type in HARD]
            counts.update(sp.entity_type for sp in hard)
            for sp in reversed(hard):
                text = f"{text[: sp.start]}<{sp.entity_type}>{text[sp.end :]}"
            return text
        counts.update(r.counts)
        return r.text

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_JSON_DEPTH:
            raise EgressBlocked(f"payload is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            return mask_str(value)
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = str(k)
                mk = mask_str(key, schema_key=_SCHEMA_KEY.fullmatch(key) is not None)
                if mk in out:
                    raise EgressBlocked("two payload keys become identical after masking")
                by_key = _by_key(key, v)
                if by_key is not None:
                    counts[by_key] += 1
                    out[mk] = f"<{by_key}>"
                    continue
                out[mk] = walk(v, depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [walk(v, depth + 1) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # a number of any JSON type can carry a phone, card or account number: check its digits
            for digits in number_digits(value):
                masked = mask_str(digits)
                if masked != digits:
                    return masked
        return value

    masked = walk(payload, 0)
    if len(_canonical(masked)) > max_bytes:
        raise EgressBlocked(f"masked payload is over the {max_bytes}-byte limit")
    return _Masked(masked, counts, tuple(sorted(ran)))


def number_digits(value: int | float) -> list[str]:
    """The digit strings a number could be an identifier in: its integer part when it has 7 or more digits
    (``4111111111111111.0``, ``4.111111111111111e15``), and its significant digits when there are 13 or more
    (a card number written as ``0.4111111111111111``)."""
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:  # pragma: no cover - JSON numbers are finite
        return []
    out = []
    whole = format(abs(d).to_integral_value(rounding="ROUND_DOWN"), "f")
    if len(whole) >= 7:
        out.append(whole)
    sig = d.normalize().as_tuple().digits
    text = "".join(map(str, sig)).lstrip("0")
    if len(text) >= 13 and text not in out:
        out.append(text)
    return out


class EgressGate:
    """Consent-checked, PII-masked, audited egress over one store. Built from its parts (the store, its
    consent ledger, the ranking config that says what an event means); it knows nothing of the recommender."""

    def __init__(
        self,
        store: Store,
        consent: ConsentLedger,
        *,
        config: RankingConfig | None = None,
        max_bytes: int = MAX_PAYLOAD_BYTES,
        timeout: float | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._store = store
        self._consent = consent
        self._config = config or RankingConfig()
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._redactor = redactor
        self._warming: threading.Thread | None = None
        self._ready = False
        self._warm_error: RedactionError | None = None
        self.allow: list[str] = []
        self._known: tuple[str | None, KnownText] | None = None  # (catalogue version, its public text)

    # --- configuration ---------------------------------------------------------------------------
    def declare(self, purpose: str, description: str) -> None:
        """Declare a purpose the app may send data for (and shows to users when asking consent); stored, so
        consent can be asked for it from any process."""
        self._consent.declare(purpose, description)

    @property
    def purposes(self) -> dict[str, str]:
        """Declared purposes data may leave the device for (``personalization`` is local-only, never one)."""
        return {p: d for p, d in self._consent.purposes().items() if p != PERSONALIZATION}

    def allow_terms(self, terms: list[str] | tuple[str, ...], *, catalog_titles: bool = False) -> None:
        """Terms never masked as names/addresses (e.g. catalogue titles): a found name, place or address is
        left as it is only when its whole text equals one of them (case and Unicode form aside), so a film
        called "Her" never releases "Heather Smith". Structured identifiers (e-mail, phone, card, IBAN, ids…)
        are masked regardless."""
        extra = [t for t in terms if isinstance(t, str)]
        if catalog_titles:
            extra += self._store.catalog.titles()
        self.allow = sorted(set(self.allow) | set(extra))

    def known(self) -> KnownText:
        """The catalogue's public text (titles, tags, descriptions), rebuilt when the catalogue changes:
        entities inside it are catalogue content, not a user's personal data, and are not masked."""
        version = self._store.catalog.version()
        if self._known is None or self._known[0] != version:
            titles: list[str] = []
            tags: list[str] = []
            texts: list[str] = []
            for title, text, item_tags in self._store.catalog.public_text():
                titles.append(title)
                tags.extend(item_tags)
                texts.append(text)
            self._known = (version, KnownText.build(tags, texts, titles=titles))
        return self._known[1]

    # --- readiness ---------------------------------------------------------------------------------
    def warm_up(self, *, wait: bool = False, languages: Sequence[str] = SUPPORTED_LANGUAGES) -> None:
        """Load the masking models (Presidio, spaCy, the PII tagger, language identification) on a background
        thread now, so that the first :meth:`send` does not block the caller for seconds while they load.
        ``wait=True`` loads on the caller's thread and raises :class:`RedactionError` if they cannot load.
        A send that comes while warm-up runs waits for it; a failure is raised by that send (fails closed)."""
        if wait:
            self._load(tuple(languages))
            return
        if self._warming is None:
            self._warming = threading.Thread(
                target=self._load_quietly, args=(tuple(languages),), name="odrec-privacy-warm-up", daemon=True
            )
            self._warming.start()

    @property
    def ready(self) -> bool:
        """Whether the masking models are loaded (a send will not wait for them)."""
        return self._ready

    def _load(self, languages: tuple[str, ...]) -> None:
        red = self._redactor or get_redactor()
        red.load(languages)
        self._redactor = red
        self._ready = True

    def _load_quietly(self, languages: tuple[str, ...]) -> None:
        try:
            self._load(languages)
        except RedactionError as e:
            self._warm_error = e
        except Exception as e:  # reported to the first send, which then fails closed
            self._warm_error = RedactionError(f"PII models could not load: {type(e).__name__}: {e}")

    def _wait_for_warm_up(self) -> None:
        t = self._warming
        if t is not None:
            t.join()
            if self._warm_error is not None:
                raise EgressBlocked(f"PII check unavailable, nothing sent: {self._warm_error}")

    # --- the gate ----------------------------------------------------------------------------------
    def send(
        self, purpose: str, payload: Any, transport: Callable[[Any], Any], *, user_id: str, destination: str = "app"
    ) -> Any:
        """Mask ``payload`` and hand it to ``transport`` if ``user_id`` consented to ``purpose``; return what
        the transport returns. Raises :class:`EgressBlocked` (nothing sent) or :class:`EgressTransportError`."""
        check_id(user_id, "user_id")
        if not callable(transport):
            raise ArgumentTypeError("transport must be a callable that takes the masked payload")
        if not isinstance(destination, str) or not destination.strip() or len(destination) > 200:
            raise ArgumentError("destination must be a short label such as 'api.example.com'")
        try:
            m, digest = self._check_and_mask(purpose, payload, user_id)
        except EgressBlocked as e:
            self._audit(user_id, "egress.blocked", purpose, destination, {"reason": str(e)})
            raise
        self._audit(
            user_id,
            "egress.sent",
            purpose,
            destination,
            {"masked": dict(sorted(m.counts.items())), "detectors": list(m.detectors), "payload_sha256": digest},
        )
        masked = m.payload
        try:
            return transport(masked)
        except Exception as e:
            self._audit(
                user_id,
                "egress.transport_failed",
                purpose,
                destination,
                {"error": type(e).__name__, "payload_sha256": digest},
            )
            raise EgressTransportError(
                f"transport for {purpose!r} to {destination!r} failed: {type(e).__name__}"
            ) from e

    def preview(self, payload: Any) -> tuple[Any, dict[str, int]]:
        """What would leave for ``payload`` (masked) and what was masked, without sending or auditing."""
        self._wait_for_warm_up()
        masked, counts = mask_payload(
            payload, allow=self.allow, redactor=self._redactor, max_bytes=self.max_bytes, known=self.known()
        )
        return masked, dict(counts)

    def _check_and_mask(self, purpose: Any, payload: Any, user_id: str) -> tuple[_Masked, str]:
        self._wait_for_warm_up()
        if not isinstance(purpose, str) or purpose not in self.purposes:
            raise EgressBlocked(
                f"purpose {purpose!r} was not declared by the app (declare it with "
                "rec.egress.declare(purpose, description))"
            )
        if not self._consent.status(user_id).get(purpose, False):
            raise EgressBlocked(f"user has not consented to {purpose!r}")
        m = _mask(
            payload,
            allow=self.allow,
            redactor=self._redactor,
            max_bytes=self.max_bytes,
            timeout=self.timeout,
            known=self.known(),
        )
        return m, hashlib.sha256(_canonical(m.payload)).hexdigest()

    def _audit(self, user_id: str, action: str, purpose: Any, destination: str, details: dict[str, Any]) -> None:
        self._store.audit.log(
            user_id, action, purpose=str(purpose)[:64], details={"destination": destination[:200], **details}
        )

    # --- data minimisation -------------------------------------------------------------------------
    def fetch_candidates(self, user_id: str, fetch: Callable[[Any], Any]) -> list[Mapping[str, Any]]:
        """Ask the app's server for fresh candidates, sending only :meth:`summary` under the purpose
        ``remote-candidates`` (declared here if the app has not; the user must consent). Returns the items."""
        if REMOTE_CANDIDATES not in self.purposes:
            self.declare(
                REMOTE_CANDIDATES,
                "Fetch fresh candidate items from the app's server, sending only coarse interests "
                "(top tags and counts)",
            )
        items = self.send(REMOTE_CANDIDATES, self.summary(user_id), fetch, user_id=user_id, destination="remote")
        if not items:
            return []
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ArgumentTypeError("remote fetch must return an iterable of item mappings")
        return list(items)

    def summary(self, user_id: str, *, top: int = 10) -> dict[str, Any]:
        """The coarse payload to send instead of raw history: top interests (catalogue tags) with counts,
        and a bucketed activity level. No item ids, no timestamps, no free text."""
        check_id(user_id, "user_id")
        uid = self._store.users.uid(user_id)
        likes: Counter[str] = Counter()
        dislikes: Counter[str] = Counter()
        n = 0
        if uid is not None:
            for kind, value, tags in self._store.events.kinds_and_tags(uid):
                n += 1
                w = event_weight(kind, value, self._config)
                for t in tags:
                    if w > 0:
                        likes[t] += 1
                    elif w < 0:
                        dislikes[t] += 1
        bucket = "0" if n == 0 else "1-9" if n < 10 else "10-99" if n < 100 else "100+"
        return {
            "interests": [{"tag": t, "count": c} for t, c in likes.most_common(top)],
            "avoids": [{"tag": t, "count": c} for t, c in dislikes.most_common(top)],
            "activity": bucket,
        }
