"""Who is acting: the name a run records as its submitter (runs.owner).

A server sets it per request from the caller's named token (a context variable, so concurrent requests
never see each other's); processes started for a run inherit it through RUNYARD_OWNER, so a sweep's
trials and a script's child runs record the same submitter; otherwise it is the local user.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

OWNER_ENV = "RUNYARD_OWNER"
_acting: ContextVar[str | None] = ContextVar("runyard_owner", default=None)


def current_owner() -> str:
    given = _acting.get() or os.environ.get(OWNER_ENV)
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (some containers)
        return f"uid-{os.getuid()}"


@contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    token = _acting.set(name)
    try:
        yield
    finally:
        _acting.reset(token)
