"""The rendezvous store of a torch.distributed job, hosted outside the ranks (as torchrun's agent does).

`python -m runyard.launch.rendezvous HOST PORT`. When rank 0 hosts the store itself, a rank 0 that
finishes first takes the store with it while its peers still talk to it, and they can abort at exit
("terminate called without an active exception"). Ranks started with TORCHELASTIC_USE_AGENT_STORE=True
connect to this process instead; it lives until its launcher stops it. It runs in its own process so
the supervisor and node agents never import torch.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from runyard.launch.procs import die_with_this_process, terminate_groups

AGENT_STORE_ENV = {"TORCHELASTIC_USE_AGENT_STORE": "True"}


class RendezvousHost:
    """A Launcher (launch/launcher.py) whose only job is to keep the store up while the ranks run."""

    def __init__(self, interpreter: str, host: str, port: int, log_path: Path) -> None:
        self.interpreter, self.host, self.port, self.log_path = interpreter, host, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pgids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def command(self) -> list[str]:
        return [self.interpreter, "-m", "runyard.launch.rendezvous", self.host, str(self.port)]

    def dry_run(self) -> list[list[str]]:
        return [self.command()]

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_this_process())

    def started(self) -> bool:
        return True

    def canceled(self) -> bool:
        return False

    def finished(self) -> bool:
        return True  # the job is done when the ranks are

    def progress(self) -> str | None:
        return None

    def failure(self) -> object | None:
        from runyard.launch.launcher import JobFailure

        if self.proc is not None and self.proc.poll() not in (None, 0, -signal.SIGTERM):
            tail = self.log_path.read_text(errors="replace")[-1000:] if self.log_path.exists() else ""
            return JobFailure(f"the rendezvous store on port {self.port} exited with code {self.proc.returncode}: "
                              f"{tail.strip()}", time.monotonic())
        return None

    def stop(self, grace: float) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate_groups(self.pgids, min(grace, 5.0), children=[self.proc])
            self.proc.wait()


def main(argv: list[str]) -> int:
    from torch.distributed import TCPStore

    host, port = argv[1], int(argv[2])
    store = TCPStore(host, port, is_master=True, wait_for_workers=False, timeout=timedelta(hours=24))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:  # serve until stopped (SIGTERM, or the parent dying: PR_SET_PDEATHSIG)
        time.sleep(3600)
    del store


if __name__ == "__main__":
    sys.exit(main(sys.argv))
