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
from runyard.store.metric_rollup import SeriesRollup


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
    owner: str = ""  # who submitted it: a token's name through a server, else the local user
    status_detail: str = ""  # why it is in its status now, e.g. what a Queued run waits for


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


class TokenKind(str, Enum):
    WRITE = "write"          # may read, submit, cancel, upload
    READ_ONLY = "read-only"  # may read only
    ADMIN = "admin"          # may also cancel, reprioritise and rerun runs others submitted


@dataclass(frozen=True)
class TokenRecord:
    """A named server token; only the SHA-256 digest of its secret is stored."""

    name: str
    digest: str
    kind: TokenKind
    created: float
    revoked: float | None = None


class RunOrder(str, Enum):
    CREATED = "created"
    STATUS = "status"
    EXPERIMENT = "experiment"
    DURATION = "duration"
    RUN_ID = "run_id"
    METRIC = "metric"  # with a metric key: its latest value at rank 0


@dataclass(frozen=True)
class RunQuery:
    """A page of runs: which (experiment, status, a filter expression), in what order, which slice."""

    experiment: str | None = None
    status: RunStatus | None = None
    where: Any = None            # a run_filter.RunFilter
    text: str | None = None      # a substring of the run id or experiment name
    order: RunOrder = RunOrder.CREATED
    metric: str | None = None    # the key, when order is METRIC
    ascending: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass
class RunBundle:
    """Every stored row of one run, for copying a run between stores (runyard migrate)."""

    record: RunRecord
    status_events: list[StatusEvent]
    tags: dict[str, str | None]
    offsets: dict[str, int]
    chunks: list[tuple[Any, ...]]    # metric_rows.PackedMetrics.chunks rows, in storage order
    objects: list[tuple[Any, ...]]
    summaries: list[tuple[Any, ...]]
    rollups: list[tuple[Any, ...]] = field(default_factory=list)  # PackedMetrics.rollups rows, in storage order


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
    def query_runs(self, query: RunQuery) -> tuple[int, list[RunRecord]]:
        """The total that match, and the requested page, filtered and ordered in SQL."""

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

    def metric_rollup(self, run_id: str, key: str, rank: int = 0) -> SeriesRollup | None:
        """The series' per-group min/max/sum (metric_rollup.py), or None where it has none: read the points."""
        return None

    @abc.abstractmethod
    def metric_summaries(self, run_ids: Sequence[str] | None = None, experiment: str | None = None,
                         rank: int | None = None) -> list[MetricSummary]: ...

    # named tokens of a server
    @abc.abstractmethod
    def add_token(self, token: TokenRecord) -> None: ...

    @abc.abstractmethod
    def list_tokens(self) -> list[TokenRecord]: ...

    @abc.abstractmethod
    def revoke_token(self, name: str, time: float) -> bool: ...

    @abc.abstractmethod
    def find_token(self, digest: str) -> TokenRecord | None: ...

    # copying whole runs between stores
    @abc.abstractmethod
    def run_bundle(self, run_id: str) -> RunBundle: ...

    @abc.abstractmethod
    def counts(self, run_id: str) -> dict[str, int]:
        """Rows of each kind one run has, to verify a copy."""

    @abc.abstractmethod
    def put_bundle(self, bundle: RunBundle) -> bool:
        """Store a whole run in one transaction; False (and nothing written) if the run is already here."""

    def system_metrics(self, run_id: str, key: str | None = None) -> list[Any]:
        """A run's system metrics (store/system_metrics.SystemPoint), apart from the user's."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (a no-op where there are none to release)."""
