"""What the supervisor drives: something that starts a job's ranks and reports how they end.

Compute targets hand the supervisor their launchers (`ComputeTarget.launchers`): node agents on this
machine, the rendezvous host, an mpirun, a Slurm job or a Ray job. The supervisor only knows this protocol,
and an attempt ends in one of the typed outcomes below.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, Union


@dataclass(frozen=True)
class RankExit:
    """A rank that ended with a non-zero code or a signal."""

    rank: int
    returncode: int
    at: float = 0.0  # time.monotonic() when the exit was seen: the earliest failure is the cause

    def describe(self) -> str:
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"rank {self.rank} was killed by {name}"
        return f"rank {self.rank} exited with code {self.returncode}"


@dataclass(frozen=True)
class JobFailure:
    """A failure that is not one rank's exit: a refused submission, a node failure, a time limit."""

    message: str
    at: float = 0.0
    # a node of the cluster went away (a lost Ray node): the job may run again once the cluster has it back
    node_lost: bool = False

    def describe(self) -> str:
        return self.message


class Ended(str, Enum):
    """How an attempt ended when no rank failed."""

    COMPLETED = "completed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"


Failure = Union[RankExit, JobFailure]
Outcome = Union[Ended, RankExit, JobFailure]


class Launcher(Protocol):
    @property
    def pgids(self) -> list[int]:
        """Local process groups to kill if the supervisor itself dies."""

    def start(self) -> None: ...

    def started(self) -> bool:
        """The ranks run (a cluster job may wait in a queue first)."""

    def failure(self) -> Failure | None:
        """A RankExit or JobFailure once something failed, else None."""

    def canceled(self) -> bool:
        """The job was canceled outside runyard (e.g. scancel)."""

    def finished(self) -> bool:
        """Every rank ended successfully."""

    def progress(self) -> str | None:
        """A line worth recording while waiting (e.g. 'PENDING (Resources)'), or None."""

    def stop(self, grace: float) -> None: ...

    def dry_run(self) -> list[list[str]]:
        """The commands start() would run, as data."""
