"""The store's narrow interface: experiments, runs, status events, metrics, tags, properties.

SQLite (store/sqlite.py) is the embedded implementation. Everything above this layer talks to a
`Store`, so another implementation (the HTTP client of the server) can stand in for it.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from runyard.status import RunStatus


class MetricKind(str, Enum):
    SCALAR = "scalar"
    LIST = "list"
    ROW = "row"
    TABLE = "table"
    IMAGE = "image"


# the property naming a child run's parent (sweeps, submit_child, child_run)
PARENT_RUN_PROPERTY = "runyard.parentRunId"


@dataclass
class KeyValues:
    """Everything one rank logged under one key, in logging order."""

    key: str
    rank: int
    kind: MetricKind
    values: list[Any]
    first_time: float = 0.0


@dataclass(frozen=True)
class Series:
    """A numeric series as arrays (numpy): steps (-1 where none was given), times, values."""

    steps: Any
    times: Any
    values: Any

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class MetricSummary:
    """Kept up to date at ingest, so run tables never read points."""

    run_id: str
    key: str
    rank: int
    kind: MetricKind
    count: int
    last_step: int | None
    last_time: float | None
    last: float | None
    min: float | None
    max: float | None


@dataclass
class RunRecord:
    run_id: str
    experiment: str
    status: RunStatus
    target: str
    created_time: float
    spec_json: str = "{}"
    snapshot_digest: str = ""
    number: int = 0
    start_time: float | None = None
    end_time: float | None = None
    error: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    display_name: str = ""


@dataclass(frozen=True)
class StatusEvent:
    status: RunStatus
    time: float
    detail: str = ""


@dataclass(frozen=True)
class SpoolEvent:
    """One line of a worker's spool: a metric point, or a tag/property set from inside the script."""

    kind: str                 # a MetricKind value, or "tag" / "property"
    key: str
    value: Any
    step: int | None = None
    rank: int = 0
    time: float = 0.0
    description: str = ""


class Store(abc.ABC):
    # experiments
    @abc.abstractmethod
    def ensure_experiment(self, name: str) -> None: ...

    @abc.abstractmethod
    def list_experiments(self) -> list[str]: ...

    # runs
    @abc.abstractmethod
    def create_run(self, record: RunRecord) -> RunRecord: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord: ...

    @abc.abstractmethod
    def resolve_run_id(self, prefix: str) -> str: ...

    @abc.abstractmethod
    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, offset: int = 0, ascending: bool = False) -> list[RunRecord]: ...

    @abc.abstractmethod
    def count_runs(self, experiment: str | None = None, status: RunStatus | None = None) -> int: ...

    @abc.abstractmethod
    def set_status(self, run_id: str, status: RunStatus, time: float, error: str | None = None,
                   only_if_not_terminal: bool = True) -> bool: ...

    @abc.abstractmethod
    def status_events(self, run_id: str) -> list[StatusEvent]: ...

    @abc.abstractmethod
    def add_properties(self, run_id: str, properties: dict[str, str]) -> None: ...

    # tags
    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str | None]) -> None: ...

    @abc.abstractmethod
    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None: ...

    @abc.abstractmethod
    def get_tags(self, run_id: str) -> dict[str, str | None]: ...

    # metrics, fed by spools
    @abc.abstractmethod
    def spool_offsets(self, run_id: str) -> dict[str, int]: ...

    @abc.abstractmethod
    def ingest(self, run_id: str, events: Sequence[SpoolEvent], source: str, start: int, end: int) -> bool:
        """Store events read from bytes [start, end) of spool `source`, atomically with its offset.

        Returns False (and stores nothing) when the stored offset is no longer `start`: another
        ingester got there first. That is what makes ingestion safe to run from several processes."""

    @abc.abstractmethod
    def metric_values(self, run_id: str, keys: Sequence[str] | None = None,
                      rank: int | None = None) -> list[KeyValues]: ...

    @abc.abstractmethod
    def metric_series(self, run_id: str, key: str, rank: int = 0) -> Series: ...

    @abc.abstractmethod
    def metric_summaries(self, run_ids: Sequence[str] | None = None, experiment: str | None = None,
                         rank: int | None = None) -> list[MetricSummary]: ...
