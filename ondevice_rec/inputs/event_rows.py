"""Interaction events: validation of one event (API and files alike) and the column mapping of event files.
No SQL here: the store's ``events`` table writes what this module validates."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError
from ..ranking import EVENT_KINDS, context_keys
from ..ranking.signals import checked_time
from ..store import EventRow
from .files import json_int
from .items import check_id, is_unicode


def to_event_row(ev: Any, declared: Sequence[str] = ()) -> EventRow:
    """Validate one event mapping (``user_id``, ``item_id``, ``kind``, ``value``, ``at``, ``context``) into the
    row the store writes; ``declared`` are the context keys the app declared beyond time and device."""
    if not isinstance(ev, Mapping):
        raise ArgumentTypeError("each event must be a mapping")
    user_id = check_id(ev.get("user_id"), "user_id")
    item_id = check_id(ev.get("item_id"), "item_id")
    kind = ev.get("kind", "view")
    if kind not in EVENT_KINDS:
        raise ArgumentError(f"kind must be one of {', '.join(EVENT_KINDS)}; got {kind!r}")
    value = ev.get("value")
    if kind == "rating":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArgumentError("a rating needs a numeric value=")
        if not math.isfinite(value):
            raise ArgumentError("rating value must be finite")
        value = float(value)
    elif value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ArgumentError("value must be a finite number")
        value = float(value)
        if kind == "complete" and not 0.0 <= value <= 1.0:
            raise ArgumentError("a complete event's value is the share consumed, between 0 and 1")
        if kind == "dwell" and value < 0.0:
            raise ArgumentError("a dwell event's value is seconds spent, not negative")
    elif kind == "dwell":
        raise ArgumentError("a dwell event needs value= (seconds spent)")
    at = ev.get("at")
    ts = time.time() if at is None else checked_time(at, "at").timestamp()
    context = ev.get("context")
    keys = context_keys(context, declared)
    if not is_unicode("".join(keys)):
        raise ArgumentError("context values must be valid Unicode (one holds a lone surrogate)")
    context_json = (
        json.dumps({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in context.items()})
        if context
        else None
    )
    return EventRow(user_id, item_id, kind, value, ts, "|".join(keys), context_json)


@dataclass(frozen=True)
class EventColumns:
    """Which columns of an events file hold what (``--user-col userId --item-col movieId --value-col rating
    --at-col timestamp``). ``kind`` fills rows that have no kind column (``rating`` when only values are
    given). A ``context`` column holds a JSON object; a column named like a declared context key feeds it."""

    user: str = "user"
    item: str = "item"
    kind: str = "kind"
    value: str = "value"
    at: str = "at"
    context: str = "context"
    default_kind: str | None = None

    def __post_init__(self) -> None:
        names = [self.user, self.item, self.kind, self.value, self.at, self.context]
        if any(not isinstance(n, str) or not n for n in names):
            raise ArgumentError("column names must be non-empty strings")
        if len(set(names)) != len(names):
            raise ArgumentError(f"one column is mapped to two fields: {names}")
        if self.default_kind is not None and self.default_kind not in EVENT_KINDS:
            raise ArgumentError(f"--kind must be one of {', '.join(EVENT_KINDS)}; got {self.default_kind!r}")


_ALIASES = {"user": ("user", "user_id"), "item": ("item", "item_id")}


def event_from_row(row: Mapping[str, Any], cols: EventColumns, declared: Sequence[str] = ()) -> dict[str, Any]:
    """One row of an events file as the mapping :func:`to_event_row` validates (numbers and epoch times given
    as text are read as numbers)."""

    def col(field: str, name: str) -> Any:
        if name in row:
            return row[name]
        for alias in _ALIASES.get(field, ()) if name == field else ():
            if alias in row:
                return row[alias]
        return None

    user, item = col("user", cols.user), col("item", cols.item)
    if user is None or item is None:
        missing = cols.user if user is None else cols.item
        raise ArgumentError(
            f"no {missing!r} column (map yours with --user-col/--item-col; columns: {sorted(row)[:12]})"
        )
    value = _number(row.get(cols.value), "value")
    kind = row.get(cols.kind) or cols.default_kind or ("rating" if value is not None else "view")
    at: Any = row.get(cols.at)
    if isinstance(at, str):
        at = at.strip() or None
        if at is not None:
            try:
                at = float(at)
            except ValueError:
                pass  # an ISO date/time: to_datetime reads it
    context: Any = row.get(cols.context)
    if isinstance(context, str):
        if context.strip():
            try:
                context = json.loads(context, parse_int=json_int)
            except (json.JSONDecodeError, RecursionError):
                raise ArgumentError("the context column must hold a JSON object") from None
        else:
            context = None
    extra = {k: row[k] for k in ("time", "device", *declared) if k in row and row[k] not in (None, "")}
    if extra:
        context = {**(context or {}), **extra}
    return {"user_id": str(user), "item_id": str(item), "kind": kind, "value": value, "at": at, "context": context}


def _number(v: Any, name: str) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise ArgumentError(f"{name} must be a number, got {v[:20]!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ArgumentError(f"{name} must be a number")
    return float(v)
