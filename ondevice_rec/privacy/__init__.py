"""Privacy layer: PII masking (Presidio + our recognizers) and the egress gate."""

from .masking import Redaction, RedactionError, Redactor, Span, redact, redact_spans, unsupported_language

__all__ = [
    "Redaction",
    "RedactionError",
    "Redactor",
    "Span",
    "redact",
    "redact_spans",
    "unsupported_language",
    "EgressGate",
]


def __getattr__(name: str):  # the gate imports the recommender; keep `privacy.masking` importable alone
    if name == "EgressGate":
        from .egress import EgressGate

        return EgressGate
    raise AttributeError(name)
