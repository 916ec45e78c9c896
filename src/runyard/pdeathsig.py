"""A child that dies with its parent, whatever kills the parent (Linux's PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """In the child before exec: the kernel SIGKILLs it if its parent (the supervisor/agent) dies. A parent
    that died between the fork and this call (a busy machine makes that window real) is never signalled for:
    with `parent` (its pid, taken before the fork) the child sees it was reparented and exits at once."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def die_with_this_process() -> Callable[[], None]:
    """A preexec_fn for a child of this process: die_with_parent with this process's pid."""
    parent = os.getpid()
    return lambda: die_with_parent(parent)
