"""Consent: an append-only ledger per user and purpose; the latest decision wins; deny by default."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError, ConsentError
from ..inputs.items import check_id
from ..store import Store
from ..store.schema import PERSONALIZATION
from ..store.statements import Increments

__all__ = ["PERSONALIZATION", "ConsentHandle", "ConsentLedger", "check_purpose"]

_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def check_purpose(purpose: Any) -> str:
    """A purpose name: a short lowercase identifier such as ``personalization`` or ``cloud-llm``."""
    if not isinstance(purpose, str):
        raise ArgumentTypeError(f"purpose must be a str, got {type(purpose).__name__}")
    if not _PURPOSE_RE.match(purpose):
        raise ArgumentError(f"purpose {purpose[:40]!r} must be a lowercase identifier such as 'personalization'")
    return purpose


class ConsentLedger:
    """Every user's consent decisions in one store, for the purposes the app declared.

    ``increments`` says what an event adds to the shared popularity priors: a personalization decision adds
    (or withdraws) the user's past events there, in the same transaction as the decision."""

    def __init__(self, store: Store, increments: Increments, on_change: Callable[[], None] | None = None) -> None:
        self._store = store
        self._increments = increments
        self._on_change = on_change  # told after a personalization decision changed the shared priors

    def declare(self, purpose: str, description: str) -> None:
        """Declare a purpose the app may ask consent for (stored, so every process sees it)."""
        check_purpose(purpose)
        if not isinstance(description, str) or not description.strip():
            raise ArgumentError("a declared purpose needs a description users can read")
        self._store.purposes.declare(purpose, description.strip()[:1000])

    def purposes(self) -> dict[str, str]:
        """Declared purposes and their descriptions (``personalization`` is always declared)."""
        return self._store.purposes.all()

    def set(self, user_id: str, purpose: str, granted: bool, source: str = "api") -> None:
        check_id(user_id, "user_id")
        check_purpose(purpose)
        if not isinstance(source, str) or len(source) > 64:
            raise ArgumentError("source must be a short string")
        declared = self.purposes()
        # a withdrawal is refused only where there is nothing to withdraw: a purpose never declared and never
        # granted to this user is a typo ("personalisation"), and accepting it would leave the real consent on
        if purpose not in declared and (granted or purpose not in self.status(user_id)):
            raise ConsentError(
                f"purpose {purpose!r} was not declared by the app; declared purposes: {', '.join(sorted(declared))}"
            )
        self._store.consents.add(user_id, purpose, granted, source, self._increments)
        if purpose == PERSONALIZATION and self._on_change is not None:
            self._on_change()

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
