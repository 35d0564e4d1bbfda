"""Data-subject rights over one store: access and portability (export), erasure, storage limitation.

- :func:`export_user` returns every row held about a user, derived data included (GDPR Arts. 15, 20).
- :func:`forget_user` deletes all of it, zeroed in place (``secure_delete``), then checkpoints and truncates
  the WAL so no bytes remain (Art. 17). The audit log keeps one entry that an erasure happened (when, how many
  rows), with nothing derived from the id: anyone holding the file cannot confirm that a guessed id was
  erased. Idempotent.
- :func:`apply_retention` deletes events older than a number of days (Art. 5(1)(e)).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from typing import Any

from .._version import __version__
from ..errors import ArgumentError
from ..inputs.items import check_id
from ..store import SCHEMA_VERSION, USER_TABLES, Store, vectors
from ..store.statements import Increments, item_id_of

EXPORT_FORMAT = "ondevice-rec/user-export"


def export_user(store: Store, user_id: str, consent_status: dict[str, bool]) -> dict[str, Any]:
    """Everything held about ``user_id`` as a JSON-serialisable dict (the export itself is audited)."""
    check_id(user_id, "user_id")
    out: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "odrec_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "user_id": user_id,
        "exported_at": time.time(),
        "found": False,
    }
    out.update({t: [] for t in USER_TABLES})
    out["user"] = None
    out["consent_status"] = {}
    # the export is recorded in the audit log, except from a store opened read-only (nothing can be written)
    out["audited"] = not store.readonly
    got = store.users.rows(user_id, _export_row)
    if got is None:
        return out
    created_at, tables = got
    out["found"] = True
    out["user"] = {"user_id": user_id, "created_at": created_at}
    out.update(tables)
    out["consent_status"] = consent_status
    return out


def forget_user(store: Store, user_id: str, increments: Increments) -> dict[str, Any]:
    """Erase every row about ``user_id`` and scrub the WAL; returns what was deleted."""
    check_id(user_id, "user_id")
    counts = store.users.erase(user_id, increments)
    store.scrub()
    return {"user_found": bool(counts), "rows_deleted": counts}


def apply_retention(store: Store, days: float, increments: Increments, user_id: str | None = None) -> int:
    """Delete events older than ``days`` (of one user when ``user_id`` is given); returns how many."""
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) or days <= 0:
        raise ArgumentError("max_age_days must be a positive number")
    uid = None
    if user_id is not None:
        uid = store.users.uid(check_id(user_id, "user_id"))
        if uid is None:
            return 0
    return store.events.expire(time.time() - days * 86400.0, increments, {"max_age_days": days}, uid=uid)


# how much of a long history the overview lists (the export holds all of it)
OVERVIEW_EVENTS = 100
OVERVIEW_AUDIT = 100


def overview(store: Store, user_id: str, dims: dict[str, int]) -> dict[str, Any]:
    """What a person sees first about themselves (the privacy centre's page): counts and activity per week
    by kind, the newest events with titles, the profile and what was derived from it, consents with their
    history, and the audit of what left the device. A read: nothing is written (downloading the full export
    is the audited access request)."""
    check_id(user_id, "user_id")
    uid = store.users.uid(user_id)
    if uid is None:
        return {"user_id": user_id, "found": False}
    total, latest = store.events.latest(uid, OVERVIEW_EVENTS)
    return {
        "user_id": user_id,
        "found": True,
        "events_total": total,
        "events_latest": latest,
        "weekly": [{"week": w, "kind": k, "events": n} for w, k, n in store.events.weekly(uid)],
        "profile": store.profiles.text(uid),
        "derived": store.profiles.derived(uid, dims),
        "consent_status": store.consents.status(uid),
        "consent_history": store.consents.history(uid),
        "audit": store.audit.entries(uid, OVERVIEW_AUDIT),
    }


def _export_row(table: str, row: dict[str, Any], conn: sqlite3.Connection) -> dict[str, Any]:
    """Make one row JSON-serialisable and readable: item ids instead of row ids, vectors as float lists."""
    row = dict(row)
    row.pop("uid", None)
    if "iid" in row:
        row["item_id"] = item_id_of(conn, row.pop("iid"))
    for key in ("pos", "neg"):
        if key in row:
            v = vectors.decode(row[key])
            row[key] = None if v is None else [round(float(x), 6) for x in v]
    for key in ("clauses", "details", "context", "mentions"):
        if isinstance(row.get(key), str):
            try:
                row[key] = json.loads(row[key])
            except json.JSONDecodeError:
                pass
    if isinstance(row.get("mentions"), list):  # the titles a profile names: item ids, as the app knows them
        row["mentions"] = [
            {"item_id": item_id_of(conn, int(m[0])), "title": m[1], "said": m[2], "confidence": m[3], "liked": m[4]}
            for m in row["mentions"]
            if isinstance(m, list) and len(m) == 5
        ]
    return row
