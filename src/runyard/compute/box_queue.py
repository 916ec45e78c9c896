"""Waiting for the box: a run's supervisor queues its request in the ledger, and starts when granted.

Dispatch is driven by events: each waiting supervisor listens on a datagram socket of its own (an abstract
Unix socket named after the store and the run), and whoever frees something (a run ending, a queued run
cancelled or reprioritised) sends one byte to every waiter of the host, which then decides again. A waiter
also looks again every few seconds, so a holder that died without a word (SIGKILL) is noticed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import psutil

from runyard.compute import gpus as gpu_discovery
from runyard.box import Capacity, ForeignGpuPolicy, Grant, Request
from runyard.launch.procs import group_exists, process_alive

if TYPE_CHECKING:
    from runyard.layout import WorkspaceFolder
    from runyard.store.box_ledger import BoxLedger

_log = logging.getLogger(__name__)
# how often a waiter looks again without being woken: only to notice holders that died without releasing
RECHECK_SECONDS = 3.0


def host_name() -> str:
    """The ledger is kept per host: a team server on several hosts keeps one queue per machine."""
    return os.environ.get("RUNYARD_BOX_HOST") or socket.gethostname()


def _address(workspace: WorkspaceFolder, host: str, run_id: str) -> str:
    """A waiter's abstract socket: one name space per store and host, so two workspaces never cross."""
    prefix = hashlib.sha1(f"{workspace.store_location.uri}|{host}".encode()).hexdigest()[:12]
    return f"\0runyard-box-{prefix}-{run_id}"


def wake_waiters(workspace: WorkspaceFolder, host: str, run_ids: list[str]) -> None:
    """One byte to each waiter named: it decides again now."""
    if not sys.platform.startswith("linux"):
        return  # abstract sockets are Linux's; elsewhere waiters look again every RECHECK_SECONDS
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        for run_id in run_ids:
            try:
                s.sendto(b"!", _address(workspace, host, run_id))
            except OSError:
                pass  # that waiter is gone (or its buffer is full: it looks again anyway)


def set_priority(workspace: WorkspaceFolder, run_id: str, priority: int) -> bool:
    """A queued run's new place in its host's queue (the waiters look again at once); False if not queued."""
    host = workspace.store.box.set_priority(run_id, priority)  # type: ignore[attr-defined]
    if host is None:
        return False
    wake_waiters(workspace, host, workspace.store.box.waiters(host))  # type: ignore[attr-defined]
    return True


class BoxQueue:
    def __init__(self, workspace: WorkspaceFolder, capacity_of: Callable[[], Capacity]) -> None:
        self.workspace, self.capacity_of = workspace, capacity_of  # read at every look: settings may change
        self.capacity = capacity_of()
        self.host = host_name()
        self._socket: socket.socket | None = None

    @property
    def ledger(self) -> BoxLedger:
        return self.workspace.store.box  # type: ignore[attr-defined, no-any-return]

    # -- waking ----------------------------------------------------------------------------------
    def wake(self, run_ids: list[str]) -> None:
        wake_waiters(self.workspace, self.host, run_ids)

    def wake_host(self, except_run: str | None = None) -> None:
        self.wake([r for r in self.ledger.waiters(self.host) if r != except_run])

    def interrupt(self) -> None:
        """Wake this process's own wait (a cancel arrived)."""
        if self._socket is not None:
            self.wake([self._socket_run])

    # -- holding ---------------------------------------------------------------------------------
    def _alive(self, run_id: str, pid: int, start: float | None) -> bool:
        """A holder is there while its supervisor is, or while any process of its ranks still is."""
        if process_alive(pid, start):
            return True
        ranks = self.workspace.run_folder(run_id).read_json(self.workspace.run_folder(run_id).ranks_file) or {}
        return any(group_exists(int(g)) for g in ranks.get("pgids", []))

    def _gpu_users(self) -> dict[str, list[int]]:
        if not self.capacity.gpus or self.capacity.foreign_gpus is ForeignGpuPolicy.IGNORE:
            return {}
        return gpu_discovery.foreign_users(list(self.capacity.gpus))

    def acquire(self, request: Request, canceled: Callable[[], bool],
                on_reason: Callable[[str], None] = lambda _: None) -> Grant | None:
        """Block until `request` is granted (the grant), or the run is canceled (None)."""
        me = psutil.Process()
        self._socket_run = request.run_id
        if sys.platform.startswith("linux"):
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.bind(_address(self.workspace, self.host, request.run_id))
        try:
            self.ledger.enqueue(self.host, request, me.pid, me.create_time())
            last_reason = None
            while True:
                if canceled():
                    self.release(request.run_id)
                    return None
                self.capacity = self.capacity_of()
                decision = self.ledger.decide(self.host, self.capacity, self._alive, self._gpu_users())
                others = [g.run_id for g in decision.grants if g.run_id != request.run_id]
                if others:
                    self.wake(others)  # they were granted by this look; tell them now
                grant = next((g for g in decision.grants if g.run_id == request.run_id), None) or \
                    self.ledger.grant_of(request.run_id)
                if grant is not None:
                    return grant
                reason = decision.reasons.get(request.run_id)
                if reason and reason != last_reason:
                    last_reason = reason
                    on_reason(reason)
                self._wait()
        finally:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _wait(self) -> None:
        if self._socket is None:
            import time

            time.sleep(RECHECK_SECONDS)  # no wake-up socket on this platform
            return
        self._socket.settimeout(RECHECK_SECONDS)
        try:
            while True:
                self._socket.recv(16)
                self._socket.setblocking(False)  # drain what else arrived: one look serves them all
        except (TimeoutError, BlockingIOError, InterruptedError):
            pass

    def release(self, run_id: str) -> None:
        """Give back what `run_id` holds (or stop waiting), then wake the host's waiters."""
        self.ledger.release(run_id)
        self.wake_host(except_run=run_id)

