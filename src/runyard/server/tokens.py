"""Who is calling: the server's own token (--token) or a named token from the store, checked on every request.

Named tokens (`runyard token create NAME`) are kept as SHA-256 digests of random 256-bit secrets, so
a copy of the database gives no usable token. Every request looks its token up in the store, so a
revoked token is refused at once, by every server process sharing that store.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from runyard.store.base import Store, TokenKind

ADMIN_NAME = "admin"  # what runs submitted with the server's own --token record as their submitter


@dataclass(frozen=True)
class Caller:
    name: str
    read_only: bool = False
    admin: bool = False  # may change any run, not only its own


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenBook:
    def __init__(self, store: Store, admin_token: str | None) -> None:
        self.store, self.admin_token = store, admin_token
        self._named: tuple[float, bool] = (0.0, False)

    def required(self) -> bool:
        """A token is needed once the server has one of its own or the store holds a live named one (the
        latter looked up at most once a second: a token just created is required within a second)."""
        known = self.known_required()
        if known is not None:
            return known
        named = any(t.revoked is None for t in self.store.list_tokens())
        self._named = (time.monotonic(), named)
        return named

    def known_required(self) -> bool | None:
        """required() without the store: None when the last look is over a second old."""
        if self.admin_token:
            return True
        checked, named = self._named
        return named if time.monotonic() - checked <= 1.0 else None

    def caller(self, secret: str) -> Caller | None:
        if not secret:
            return None
        if self.admin_token and hmac.compare_digest(secret.encode(), self.admin_token.encode()):
            return Caller(ADMIN_NAME, admin=True)
        found = self.store.find_token(token_digest(secret))
        if found is None or found.revoked is not None:
            return None
        return Caller(found.name, read_only=found.kind is TokenKind.READ_ONLY, admin=found.kind is TokenKind.ADMIN)
