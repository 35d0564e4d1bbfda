"""Verbalisation templates: how items, histories and profiles become text for a model.

This is the only copy: the export toolchain and the runtime both import it, so a bundle always sees text
in the form it was built and validated with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Model inputs are cut here before tokenisation; the encoder truncates again at its own token limit.
MAX_ITEM_CHARS = 2000  # of an item's text
MAX_CLAUSE_CHARS = 2000  # of one profile clause (a stored profile may be longer: see limits.MAX_PROFILE_CHARS)


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
    return clause.strip(" .,;:!?\n\t")[:MAX_CLAUSE_CHARS]


# --- LLM ranker prompts (teacher fine-tuning, labelling, and runtime LLM re-ranking) --------------------
RANKER_SYSTEM = "You are a recommender. Answer Yes or No."
RANKER_MAX_HISTORY = 10
RANKER_YES = "Yes"  # SmolLM2 answers "Yes"/"No" after the assistant tag, without a leading space
RANKER_NO = "No"


def ranker_prefix(history_titles: Sequence[str]) -> str:
    """The part of the prompt shared by every candidate of one user (evaluated once, then reused). It ends with
    a newline so that tokenising prefix and suffix separately gives the same tokens as the whole prompt."""
    recent = [str(t)[:120] for t in list(history_titles)[-RANKER_MAX_HISTORY:]]
    lines = "\n".join(f"- {t}" for t in recent) if recent else "- (nothing yet)"
    return (
        f"<|im_start|>system\n{RANKER_SYSTEM}<|im_end|>\n<|im_start|>user\n"
        f"The user liked these, oldest first:\n{lines}\n"
    )


def ranker_suffix(candidate_title: str) -> str:
    """The candidate-specific rest of the prompt, ending where the model answers Yes or No."""
    return f'Would the user like "{str(candidate_title)[:120]}"?<|im_end|>\n<|im_start|>assistant\n'


def ranker_prompt(history_titles: Sequence[str], candidate_title: str) -> str:
    return ranker_prefix(history_titles) + ranker_suffix(candidate_title)


def explain_prompt(history_titles: Sequence[str], candidate_title: str) -> str:
    """Asks the LLM ranker to word a one-sentence reason (``explain="llm"``)."""
    recent = ", ".join(f'"{str(t)[:80]}"' for t in list(history_titles)[-5:]) or "nothing yet"
    return (
        f"<|im_start|>system\nYou explain recommendations in one short sentence.<|im_end|>\n<|im_start|>user\n"
        f'The user liked {recent}. In one short sentence, why might they enjoy "{str(candidate_title)[:80]}"?'
        "<|im_end|>\n<|im_start|>assistant\n"
    )
