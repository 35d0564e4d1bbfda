"""Verbalisation templates: how items, histories and profiles become text for a model.

This is the only copy: the export toolchain and the runtime both import it, so a bundle always sees text
in the form it was built and validated with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Item text is cut here before tokenisation; the encoder truncates again at its own token limit.
MAX_ITEM_CHARS = 2000
MAX_PROFILE_CHARS = 2000


def item_text(item: Mapping[str, Any]) -> str:
    """``Title. Description. Tags: a, b.`` — the text an item is embedded from."""
    parts: list[str] = []
    title = str(item.get("title") or "").strip()
    text = str(item.get("text") or "").strip()
    tags: Sequence[str] = item.get("tags") or []
    if title:
        parts.append(title if title.endswith((".", "!", "?")) else title + ".")
    if text:
        parts.append(text)
    if tags:
        parts.append("Tags: " + ", ".join(str(t) for t in tags) + ".")
    return " ".join(parts)[:MAX_ITEM_CHARS]


def profile_clause_text(clause: str) -> str:
    """A profile clause as embedded (kept as the user wrote it, minus surrounding noise)."""
    return clause.strip(" .,;:!?\n\t")[:MAX_PROFILE_CHARS]
