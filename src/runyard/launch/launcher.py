"""What the supervisor drives: something that starts a job's ranks and reports how they end.

Compute targets hand the supervisor their launchers (`ComputeTarget.launchers`): node agents on this
machine, an mpirun, or a Slurm job. The supervisor only knows this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JobFailure:
    """A failure that is not one rank's exit: a refused submission, a node failure, a time limit."""

    message: str
    at: float = 0.0

    def describe(self) -> str:
        return self.message


class Launcher(Protocol):
    @property
    def pgids(self) -> list[int]:
        """Local process groups to kill if the supervisor itself dies."""

    def start(self) -> None: ...

    def started(self) -> bool:
        """The ranks run (a cluster job may wait in a queue first)."""

    def failure(self) -> object | None:
        """A RankExit or JobFailure once something failed, else None."""

    def canceled(self) -> bool:
        """The job was canceled outside runyard (e.g. scancel)."""

    def finished(self) -> bool:
        """Every rank ended successfully."""

    def progress(self) -> str | None:
        """A line worth recording while waiting (e.g. 'PENDING (Resources)'), or None."""

    def stop(self, grace: float) -> None: ...
