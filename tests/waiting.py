"""Waiting on a condition with a deadline: tests hold on a busy machine, where any fixed sleep is a race."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(condition: Callable[[], T], what: str, timeout: float = 60.0, every: float = 0.05) -> T:
    """The first truthy value of condition(), polled until timeout; AssertionError naming `what` after it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
