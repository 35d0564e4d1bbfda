"""Deliberate bounds on what the SDK accepts (the README's "Limits" table): one place for every number.

Inputs beyond them raise :class:`~ondevice_rec.errors.ArgumentError` naming the argument, or are cut where
noted. Model input windows (how much of a text a model reads) live in ``ranking.templates``.
"""

from __future__ import annotations

MAX_ID_LEN = 512  # user and item ids
MAX_TITLE_CHARS = 1_000
MAX_TEXT_CHARS = 100_000  # item text is stored up to this (longer is cut)
MAX_TAGS = 64
MAX_JSON_DEPTH = 32  # item meta, event context, egress payloads
MAX_PROFILE_CHARS = 10_000  # a stored natural-language profile
MAX_MODALITY_DIM = 4_096  # an app-supplied item vector (image, audio) per modality
MAX_K = 1_000  # results per request
MAX_RERANK_TOP = 100  # candidates the LLM may re-rank per request
MAX_MASKED_CHARS = 1_000_000  # one text given to PII masking (longer is refused: RedactionError)
MAX_PAYLOAD_BYTES = 1_000_000  # an egress payload, as JSON (larger is refused: EgressBlocked)
