"""Keeping a run's status true when its supervisor is gone, and asking a run to stop."""

from __future__ import annotations

import os
import signal
import socket
import time

from runyard.launch.procs import process_alive, terminate_groups
from runyard.run_folder import RunFolder
from runyard.status import RunStatus
from runyard.store.base import Store


def supervisor_alive(folder: RunFolder) -> bool | None:
    """None when the run has no supervisor record yet (or never will: an interactive run), or when its
    supervisor runs on another host (a shared folder): only that host can tell, and it writes the status."""
    info = folder.read_json(folder.supervisor_file)
    if info is None or info.get("host", socket.gethostname()) != socket.gethostname():
        return None
    return process_alive(int(info["pid"]), info.get("create_time"), info.get("start_ticks"))


def _kill_ranks(folder: RunFolder) -> None:
    info = folder.read_json(folder.ranks_file) or {}
    terminate_groups([int(g) for g in info.get("pgids", [])], grace=2.0)


def reconcile(store: Store, folder: RunFolder, status: RunStatus) -> RunStatus:
    """A run whose supervisor died without a final status ends Failed; its ranks are stopped,
    and what its spools hold is still stored."""
    if status.is_terminal() or supervisor_alive(folder) is not False:
        return status
    current = store.get_run(folder.run_id).status
    if current.is_terminal():
        return current
    from runyard.tracking.ingest import ingest_once

    _kill_ranks(folder)
    ingest_once(store, folder.run_id, folder.spool_dir)
    info = folder.read_json(folder.supervisor_file) or {}
    store.set_status(folder.run_id, RunStatus.FAILED, time.time(),
                     f"the run's supervisor (pid {info.get('pid')}) ended without finishing the run "
                     "(killed, or the machine restarted); logs, metrics and outputs written so far are kept")
    return store.get_run(folder.run_id).status


def request_cancel(store: Store, folder: RunFolder, timeout: float = 30.0) -> RunStatus:
    status = reconcile(store, folder, store.get_run(folder.run_id).status)
    if status.is_terminal():
        return status
    folder.cancel_file.touch()
    store.set_status(folder.run_id, RunStatus.CANCEL_REQUESTED, time.time())
    info = folder.read_json(folder.supervisor_file)
    if info and supervisor_alive(folder):
        try:
            os.kill(int(info["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = store.get_run(folder.run_id).status
            if status.is_terminal():
                return status
            if not supervisor_alive(folder):
                break
            time.sleep(0.05)
        if info and supervisor_alive(folder):
            os.kill(int(info["pid"]), signal.SIGKILL)
    _kill_ranks(folder)
    from runyard.tracking.ingest import ingest_once

    ingest_once(store, folder.run_id, folder.spool_dir)
    store.set_status(folder.run_id, RunStatus.CANCELED, time.time(), "canceled by the user")
    return store.get_run(folder.run_id).status
