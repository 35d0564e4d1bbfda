"""What an event, a context and a profile mean to the ranker: signed event weights, popularity increments,
context keys, and positive/negative profile clauses. Pure functions of typed config."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from .config import DAYPARTS, RankingConfig

# --- events and context -----------------------------------------------------------------------


def event_weight(kind: str, value: float | None, cfg: RankingConfig) -> float:
    """Signed strength of one event: likes pull the user state towards an item, dislikes push away. A rating
    is scaled around the middle of ``rating_scale``; a completion by the share consumed and a dwell by the time
    spent (up to ``dwell_full_seconds``), both turning into ``abandon_weight`` when the user left early."""
    if kind == "rating":
        lo, hi = cfg.rating_scale
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        return float(np.clip(((value if value is not None else mid) - mid) / half, -1.0, 1.0))
    w = float(cfg.kind_weights.get(kind, 0.0))
    if kind == "complete":
        share = 1.0 if value is None else min(max(value, 0.0), 1.0)
        return cfg.abandon_weight if share < cfg.abandon_fraction else w * share
    if kind == "dwell":
        seconds = 0.0 if value is None else max(value, 0.0)
        return cfg.abandon_weight if seconds < cfg.abandon_seconds else w * min(1.0, seconds / cfg.dwell_full_seconds)
    return w


def event_weights(kinds: Sequence[str], values: Sequence[float | None], cfg: RankingConfig) -> np.ndarray:
    """:func:`event_weight` of many events at once (float32)."""
    w = np.asarray([cfg.kind_weights.get(k, 0.0) for k in kinds], dtype=np.float64)
    rated = np.asarray([k == "rating" for k in kinds], dtype=bool)
    if rated.any():  # long rating histories: one array operation, not a call per event
        lo, hi = cfg.rating_scale
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        v = np.asarray([mid if x is None else x for x, r in zip(values, rated) if r], dtype=np.float64)
        w[rated] = np.clip((v - mid) / half, -1.0, 1.0)
    for i, (k, x) in enumerate(zip(kinds, values)):
        if k == "complete" or k == "dwell":
            w[i] = event_weight(k, x, cfg)
    return w.astype(np.float32)


def stat_increments(kind: str, value: float | None, ctx: str, cfg: RankingConfig) -> list[tuple[str, float]]:
    """What one event adds to the popularity priors: its positive weight, once overall (context ``""``) and
    once per context key it was recorded in (``ctx`` is the event's ``|``-joined context keys)."""
    w = max(0.0, event_weight(kind, value, cfg))
    if w <= 0:
        return []
    return [(key, w) for key in ("", *ctx.split("|"))] if ctx else [("", w)]


def context_keys(context: Mapping[str, Any] | None, declared: Sequence[str] = ()) -> list[str]:
    """Normalise a request/event context into keys such as ``daypart:evening``, ``week:weekend``,
    ``device:mobile`` or, for a ``declared`` key, ``weather:rainy``. ``time`` may be a datetime, an ISO
    string, an epoch number or a daypart name; other values are short strings (or numbers, kept as text)."""
    if not context:
        return []
    if not isinstance(context, Mapping):
        raise ArgumentTypeError("context must be a mapping such as {'time': datetime, 'device': 'mobile'}")
    allowed = ("time", "device", *(k for k in declared if k not in ("time", "device")))
    unknown = set(context) - set(allowed)
    if unknown:
        raise ArgumentError(
            f"context has unknown keys {sorted(map(str, unknown))} (supported: {', '.join(allowed)}; "
            "declare more with RankingConfig(context_keys=...) or Recommender.open(..., context_keys=[...]))"
        )
    keys: list[str] = []
    t = context.get("time")
    if t is not None:
        if isinstance(t, str) and t.lower() in DAYPARTS:
            keys.append(f"daypart:{t.lower()}")
        else:
            dt = checked_time(t, "context time", future_s=None)
            h = dt.hour
            part = "night" if h < 5 or h >= 22 else "morning" if h < 12 else "afternoon" if h < 17 else "evening"
            keys.append(f"daypart:{part}")
            keys.append("week:weekend" if dt.weekday() >= 5 else "week:weekday")
    for name in allowed[1:]:
        v = context.get(name)
        if v is None:
            continue
        if (
            isinstance(v, bool)
            or not isinstance(v, (str, int, float))
            or (isinstance(v, float) and not math.isfinite(v))
        ):
            raise ArgumentError(f"context {name} must be a short string such as 'mobile', got {type(v).__name__}")
        text = str(v).strip().lower()
        if not text or len(text) > 64 or "|" in text:
            raise ArgumentError(f"context {name} must be a short non-empty string (at most 64 characters, no '|')")
        keys.append(f"{name}:{text}")
    return keys


def checked_time(value: Any, name: str, *, future_s: float | None = 86400.0) -> datetime:
    """``value`` as a datetime, refused when it cannot be a real event time: before 1970, more than
    ``future_s`` ahead of now (None: no bound), or a bare number that reads as an hour (< 86400 s after the
    epoch) or a year (four digits) rather than epoch seconds; a millisecond epoch is named as such."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        if float(value).is_integer() and 1000 <= value <= 9999:
            raise ArgumentError(f"{name} {value!r} looks like a year: pass an ISO date such as '{int(value)}-01-01'")
        if value > 1e11:
            unit, by = ("microseconds", "1,000,000") if value > 1e14 else ("milliseconds", "1000")
            raise ArgumentError(f"{name} {value!r} is far in the future: {unit} since the epoch? divide by {by}")
        if 0 <= value < 86400:
            raise ArgumentError(
                f"{name} {value!r} is not a time: epoch seconds that small are the first day of 1970; for a time of "
                "day pass a daypart ('morning', 'evening') or a datetime"
            )
    dt = to_datetime(value, name)
    ts = dt.timestamp()
    if ts < 0:
        raise ArgumentError(f"{name} {str(value)[:40]!r} is before 1970")
    if future_s is not None and ts > time.time() + future_s:
        raise ArgumentError(f"{name} {str(value)[:40]!r} is in the future")
    return dt


def to_datetime(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be a datetime, ISO string or epoch seconds")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ArgumentError(f"{name} must be finite")
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc).astimezone()
        except (OverflowError, OSError, ValueError):
            raise ArgumentError(f"{name} is out of range") from None
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ArgumentError(f"{name} {value[:40]!r} is not an ISO date/time") from None
        return dt if dt.tzinfo else dt.astimezone()
    raise ArgumentTypeError(f"{name} must be a datetime, ISO string or epoch seconds, got {type(value).__name__}")


# --- profiles ---------------------------------------------------------------------------------
_NEG_CUE = re.compile(
    r"^\s*(?:(?:and|but|or)\s+)?(?:(?:i|we)\s+)?(?:no|not|never|nothing|without|avoid|hate|hates|hated|dislike|dislikes|"
    r"disliked|didn['’]?t\s+(?:like|enjoy)|did\s+not\s+(?:like|enjoy)|"
    r"don['’]?t\s+(?:like|want|enjoy)|do\s+not\s+(?:like|want|enjoy)|can['’]?t\s+stand|except|skip|none\s+of)\b[\s:,-]*",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"[.;!?\n,]+|\s+but\s+", re.IGNORECASE)


def split_profile(text: str) -> tuple[list[str], list[str]]:
    """Split a natural-language profile into positive and negative clauses (``"no horror"`` → negative)."""
    pos: list[str] = []
    neg: list[str] = []
    for raw in _SPLIT.split(text):
        clause = raw.strip(" \t-:'\"")
        if len(clause) < 2:
            continue
        m = _NEG_CUE.match(clause)
        if m:
            rest = clause[m.end() :].strip()
            if rest:
                neg.append(rest)
        else:
            pos.append(clause)
    return pos, neg


# sentence ends (not after the abbreviations titles carry: "Dr. Strangelove", "Mr. Smith Goes to Washington")
_SENTENCES = re.compile(
    r"(?<!\bDr)(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bSt)(?<!\bJr)(?<!\bvs)[.;!?\n]+|\s+but\s+", re.IGNORECASE
)
_POSITIVE_TURN = re.compile(r"^\s*(?:and|but)\s+(?:i|we)\b", re.IGNORECASE)


def profile_clauses(text: str) -> list[tuple[str, bool]]:
    """The profile's clauses with their polarity (False: negative), split at sentence ends only, so that a title
    with a comma stays whole ("The Good, the Bad and the Ugly"); within a sentence a comma starts a new clause
    only where the polarity turns ("I loved Heat, not Titanic", "no horror, and I loved Alien")."""
    out: list[tuple[str, bool]] = []
    for sentence in _SENTENCES.split(text):
        parts = sentence.split(",")
        clause, liked = parts[0], not _NEG_CUE.match(parts[0])
        for part in parts[1:]:
            turn = False if _NEG_CUE.match(part) else True if _POSITIVE_TURN.match(part) else None
            if turn is None or turn == liked:
                clause += "," + part
            else:
                out.append((clause, liked))
                clause, liked = part, turn
        if clause.strip():
            out.append((clause, liked))
    return out
