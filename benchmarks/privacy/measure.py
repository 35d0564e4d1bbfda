"""Leak measurements of a masker on labelled texts: the one implementation behind ``bench_privacy.py``.

A masker maps a text to the character spans it would mask (or raises to refuse the text). For every gold
entity: *verbatim leak* = no masked span touches it; *partial leak* = some letter or digit of it is unmasked;
*token survival* = the share of its words left wholly unmasked. Over-masking = the share of the words outside
every gold entity that were masked (the cost in utility). Latency is measured per call; ms/KB divides it by
the text's size, counting texts under 1 KB as 1 KB.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

Masker = Callable[[str], Sequence[tuple[int, int]]]
_WORD = re.compile(r"\w+", re.UNICODE)


def _covered(spans: Sequence[tuple[int, int]], n: int) -> bytearray:
    cov = bytearray(n)
    for s, e in spans:
        for i in range(max(0, s), min(n, e)):
            cov[i] = 1
    return cov


def measure(
    masker: Masker, docs: Sequence[dict[str, Any]], labels: Sequence[str], refusal: type[BaseException]
) -> dict[str, Any]:
    n = {lab: 0 for lab in labels}
    verbatim = {lab: 0 for lab in labels}
    partial = {lab: 0 for lab in labels}
    tokens = {lab: 0 for lab in labels}
    tokens_kept = {lab: 0 for lab in labels}
    examples: dict[str, list[str]] = defaultdict(list)
    o_words = o_masked = refused = 0
    ms: list[float] = []
    ms_per_kb: list[float] = []
    chars = 0
    for doc in docs:
        text: str = doc["text"]
        t = time.perf_counter()
        try:
            spans = list(masker(text))
        except refusal:
            refused += 1
            continue
        dt = (time.perf_counter() - t) * 1000
        ms.append(dt)
        # per KB, with texts under 1 KB counted as 1 KB: a request's fixed cost is not divided by a tiny size
        ms_per_kb.append(dt * 1024 / max(1024, len(text.encode("utf-8"))))
        chars += len(text)
        cov = _covered(spans, len(text))
        gold = _covered([(s, e) for s, e, _ in doc["spans"]], len(text))
        for m in _WORD.finditer(text):
            if not any(gold[m.start() : m.end()]):
                o_words += 1
                o_masked += any(cov[m.start() : m.end()])
        for s, e, lab in doc["spans"]:
            if lab not in n:
                continue
            n[lab] += 1
            seg = cov[s:e]
            if not any(seg):
                verbatim[lab] += 1
                if len(examples[lab]) < 25:
                    examples[lab].append(text[s:e])
            if any(not seg[i] and text[s + i].isalnum() for i in range(e - s)):
                partial[lab] += 1
            for m in _WORD.finditer(text, s, e):
                tokens[lab] += 1
                tokens_kept[lab] += not any(cov[m.start() : m.end()])
    out: dict[str, Any] = {
        "texts": len(docs),
        "refused": refused,
        "refusal_rate": round(refused / max(1, len(docs)), 4),
    }
    for lab in labels:
        out[lab] = {
            "entities": n[lab],
            "verbatim_leak": round(verbatim[lab] / n[lab], 4) if n[lab] else None,
            "partial_leak": round(partial[lab] / n[lab], 4) if n[lab] else None,
            "token_survival": round(tokens_kept[lab] / tokens[lab], 4) if tokens[lab] else None,
            "leaked_examples": examples[lab][:10],
        }
    out["over_masking"] = round(o_masked / max(1, o_words), 4)
    if ms:
        q = statistics.quantiles(ms_per_kb, n=20) if len(ms_per_kb) >= 20 else [max(ms_per_kb)] * 19
        out["latency"] = {
            "ms_p50": round(statistics.median(ms), 2),
            "ms_per_kb_p50": round(statistics.median(ms_per_kb), 2),
            "ms_per_kb_p95": round(q[18], 2),
            "mean_chars": round(chars / len(ms), 1),
        }
    return out


def false_positive_rate(masker: Masker, texts: Sequence[str], refusal: type[BaseException]) -> dict[str, Any]:
    """Share of clean texts in which anything is masked, and what was masked."""
    hits, refused, seen = 0, 0, []
    for text in texts:
        try:
            spans = list(masker(text))
        except refusal:
            refused += 1
            continue
        if spans:
            hits += 1
            if len(seen) < 30:
                seen.append(" | ".join(text[s:e] for s, e in spans))
    return {
        "texts": len(texts),
        "with_a_mask": hits,
        "rate": round(hits / max(1, len(texts)), 4),
        "refused": refused,
        "masked": seen,
    }
