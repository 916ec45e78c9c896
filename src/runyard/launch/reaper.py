"""`python -m runyard.launch.reaper PGID...`: takes process groups down when the process that started them
dies, however it dies.

A rank dies with its node agent (PR_SET_PDEATHSIG), but what the rank started itself (a data loader's
workers, a `sleep`, a shell) would live on. The agent starts one reaper holding the read end of a pipe whose
only write end the agent keeps; when the agent exits or is killed, the pipe reads EOF and the reaper stops
every group it was given (SIGTERM, then SIGKILL). It imports nothing of runyard's, so it starts in tens of
milliseconds and never holds a run up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 5.0


def spawn(pgids: list[int]) -> int:
    """Start a reaper for `pgids`; returns the write end of its pipe (close it, or exit, to fire it)."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    subprocess.Popen([sys.executable, "-S", "-m", "runyard.launch.reaper", *map(str, pgids)], stdin=read_end,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    os.close(read_end)
    return write_end


def release(write_end: int | None) -> None:
    """Fire the reaper now (the groups were stopped already; it finds them gone and exits)."""
    if write_end is not None:
        try:
            os.close(write_end)
        except OSError:
            pass


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main(argv: list[str]) -> int:
    pgids = [int(a) for a in argv[1:]]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(0, 4096):  # blocks until the agent's end of the pipe is closed (exit or kill)
        pass
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 0.0)):
        for pgid in pgids:
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(g) for g in pgids):
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
