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
_acting_admin: ContextVar[bool] = ContextVar("runyard_admin", default=False)


def current_owner() -> str:
    given = _acting.get() or os.environ.get(OWNER_ENV)
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (some containers)
        return f"uid-{os.getuid()}"


def may_change(owner: str) -> str | None:
    """Why the caller of this server request may not cancel, reprioritise or rerun a run `owner` submitted
    (None: it may). Without a token (a loopback server) and with an admin token, anyone may."""
    caller = _acting.get()
    if caller is None or _acting_admin.get() or caller == owner:
        return None
    return (f"token {caller!r} may cancel, reprioritise or rerun only the runs it submitted; this run was submitted "
            f"by {owner!r}. Fix: ask {owner!r}, or use an admin token (runyard token create NAME --admin)")


@contextmanager
def acting_as(name: str | None, admin: bool = False) -> Iterator[None]:
    token, admin_token = _acting.set(name), _acting_admin.set(admin)
    try:
        yield
    finally:
        _acting.reset(token)
        _acting_admin.reset(admin_token)
