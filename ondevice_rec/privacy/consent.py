"""Consent: an append-only ledger per user and purpose; the latest decision wins; deny by default."""

from __future__ import annotations

import re
from typing import Any

from ..catalog import check_id
from ..errors import ArgumentError, ArgumentTypeError
from ..store import Store

PERSONALIZATION = "personalization"
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def check_purpose(purpose: Any) -> str:
    """A purpose name: a short lowercase identifier such as ``personalization`` or ``cloud-llm``."""
    if not isinstance(purpose, str):
        raise ArgumentTypeError(f"purpose must be a str, got {type(purpose).__name__}")
    if not _PURPOSE_RE.match(purpose):
        raise ArgumentError(f"purpose {purpose[:40]!r} must be a lowercase identifier such as 'personalization'")
    return purpose


class ConsentLedger:
    """Every user's consent decisions in one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def set(self, user_id: str, purpose: str, granted: bool, source: str = "api") -> None:
        check_id(user_id, "user_id")
        check_purpose(purpose)
        if not isinstance(source, str) or len(source) > 64:
            raise ArgumentError("source must be a short string")
        self._store.consents.add(user_id, purpose, granted, source)

    def status(self, user_id: str) -> dict[str, bool]:
        """Latest decision per purpose ({} for a user we know nothing about: everything off)."""
        uid = self._store.users.uid(check_id(user_id, "user_id"))
        return {} if uid is None else self._store.consents.status(uid)

    def granted(self, user_id: str, purpose: str) -> bool:
        return self.status(user_id).get(check_purpose(purpose), False)

    def history(self, user_id: str) -> list[dict[str, Any]]:
        uid = self._store.users.uid(check_id(user_id, "user_id"))
        return [] if uid is None else self._store.consents.history(uid)


class ConsentHandle:
    """The consent ledger of one user: ``grant``, ``revoke``, ``status``, ``granted``, ``history``."""

    def __init__(self, ledger: ConsentLedger, user_id: str) -> None:
        self._ledger = ledger
        self.user_id = check_id(user_id, "user_id")

    def grant(self, purpose: str, *, source: str = "api") -> None:
        self._ledger.set(self.user_id, purpose, True, source)

    def revoke(self, purpose: str, *, source: str = "api") -> None:
        self._ledger.set(self.user_id, purpose, False, source)

    def status(self) -> dict[str, bool]:
        return self._ledger.status(self.user_id)

    def granted(self, purpose: str) -> bool:
        return self._ledger.granted(self.user_id, purpose)

    def history(self) -> list[dict[str, Any]]:
        return self._ledger.history(self.user_id)
