"""Process-group bookkeeping: every rank runs in its own group, so killing the group leaves no orphans."""

from __future__ import annotations

import os
import signal
import time
import subprocess
from collections.abc import Iterable, Sequence

import psutil

from runyard.pdeathsig import die_with_parent, die_with_this_process

__all__ = ["die_with_parent", "die_with_this_process", "group_exists", "process_alive", "share_cores", "signal_groups",
           "terminate_groups"]


def signal_groups(pgids: Iterable[int], sig: int) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def terminate_groups(pgids: Iterable[int], grace: float = 10.0,
                     children: Sequence[subprocess.Popen[bytes]] = ()) -> None:
    """SIGTERM every group, then SIGKILL whatever is still there after `grace` seconds.

    `children` are our own Popen objects in those groups: polling them reaps them (a zombie still
    counts as a group member), without stealing their exit codes as a blind waitpid(-1) would."""
    pgids = list(pgids)
    signal_groups(pgids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for child in children:
            child.poll()
        if not any(group_exists(g) for g in pgids):
            return
        time.sleep(0.05)
    signal_groups(pgids, signal.SIGKILL)


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (/proc/<pid>/stat): unlike psutil's create_time, which is
    derived from the wall clock's boot time, it does not move when the clock is stepped (NTP, a VM resumed)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int, create_time: float | None, ticks: int | None = None) -> bool:
    """True if `pid` still runs and is the same process (not a recycled pid): by its start ticks where they were
    recorded, else by its create time."""
    try:
        p = psutil.Process(pid)
        now_ticks = start_ticks(pid) if ticks is not None else None
        if now_ticks is not None:
            if now_ticks != ticks:
                return False
        elif create_time is not None and abs(p.create_time() - create_time) > 0.5:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def share_cores(env: dict[str, str], ranks_on_host: int) -> None:
    """As torchrun does: several ranks on one machine each running a full-size thread pool oversubscribe
    its cores and crawl; give each rank its share (OMP_NUM_THREADS), unless the user chose already."""
    if ranks_on_host > 1 and "OMP_NUM_THREADS" not in env:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env["OMP_NUM_THREADS"] = str(max(1, cores // ranks_on_host))
