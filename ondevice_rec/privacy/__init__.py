"""Privacy layer: PII masking (Presidio + our recognizers), consent, data-subject rights and the egress gate.

Import rule: nothing here imports the recommender; the gate is built from the store, the consent ledger and
the ranking config. The masking and egress modules (large regex tables; Presidio when first used) are loaded
on first access of their names, so that opening a store and ranking does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import RedactionError
from .consent import PERSONALIZATION, ConsentHandle, ConsentLedger, check_purpose

if TYPE_CHECKING:
    from .egress import EgressGate, mask_payload
    from .masking import Redaction, Redactor, Span, redact, redact_spans, unsupported_language

_LAZY = {
    "EgressGate": "egress",
    "mask_payload": "egress",
    "Redaction": "masking",
    "Redactor": "masking",
    "Span": "masking",
    "redact": "masking",
    "redact_spans": "masking",
    "unsupported_language": "masking",
}

__all__ = [
    "PERSONALIZATION",
    "ConsentHandle",
    "ConsentLedger",
    "EgressGate",
    "Redaction",
    "RedactionError",
    "Redactor",
    "Span",
    "check_purpose",
    "mask_payload",
    "redact",
    "redact_spans",
    "unsupported_language",
]


def __getattr__(name: str) -> Any:  # PEP 562: load masking/egress when their names are first used
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
