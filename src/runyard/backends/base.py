"""RunBackend: what the service facade (Workspace, Experiment, Run, Datastore) asks of where a workspace lives.

Two implementations: a folder on this machine (`local.LocalBackend`: the store and the run folders) and a
`runyard server` reached over HTTP (`http.HttpBackend`). The facade classes are written once, over this
protocol; nothing above it knows which one it has.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runyard.locations import Location
    from runyard.run_folder import RunFolder
    from runyard.status import RunStatus
    from runyard.store.base import RunRecord
    from runyard.tracking.query import RunMetrics, SeriesView
    from runyard.tracking.spool import SpoolWriter


class RunBackend(Protocol):
    """Every call names the run by its full id (resolve_run_id turns a prefix into one)."""

    name: str            # the workspace's name
    location: str        # the folder path or the server URL, for messages
    poll_interval: float  # how often following a run asks again (a server is asked less often than a folder)

    # -- finding runs ----------------------------------------------------------------------------------
    def resolve_run_id(self, prefix: str) -> str: ...

    def record(self, run_id: str) -> RunRecord: ...

    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, filter_string: str | None = None) -> list[RunRecord]:
        """Newest first; `filter_string` is a search expression (metrics.acc > 0.9 and params.lr = '0.01')."""

    def run_metrics(self, run_ids: list[str]) -> dict[str, RunMetrics]:
        """latest/min/max/count per key, for a runs table."""

    def list_experiments(self) -> list[str]: ...

    def children(self, run_id: str) -> list[str]: ...

    def children_summary(self, run_id: str) -> list[dict[str, Any]]: ...

    # -- status -----------------------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus:
        """The run's status, made true first (a run whose supervisor died ends Failed)."""

    def details(self, run_id: str) -> dict[str, Any]:
        """The service's get_details() shape."""

    def set_status(self, run_id: str, status: RunStatus, error: str | None) -> None:
        """An interactive run's end (complete / fail)."""

    def cancel(self, run_id: str) -> None: ...

    def set_priority(self, run_id: str, priority: int) -> None:
        """A Queued run's place in the box's queue (higher first)."""

    def box_report(self) -> dict[str, Any]:
        """The local target's GPUs and who holds them, CPU slots, memory, the queue in order."""

    # -- logging and reading what was logged -------------------------------------------------------------
    def sink(self, run_id: str) -> SpoolWriter:
        """Where this process's log() calls for the run go (a spool file, stored or shipped)."""

    def flush(self, run_id: str, writer: SpoolWriter | None) -> None:
        """What `writer` holds is stored when this returns."""

    def rerun(self, run_id: str, allow_changes: bool) -> str:
        """A new run from what `run_id` recorded; its id."""

    def deliver(self, run_id: str, writer: SpoolWriter | None, timeout: float) -> None:
        """What `writer` holds is safe when this returns (on disk locally; stored by a server remotely)."""

    def metrics(self, run_id: str, name: str | None, rank: int | None, all_ranks: bool) -> dict[str, Any]: ...

    def series(self, run_id: str, name: str, rank: int, max_points: int | None,
               step_range: tuple[float, float] | None) -> SeriesView: ...

    def system_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        """{key: {"node N": {"time", "mean", "min", "max"}}}: what the node samplers recorded."""

    def tags(self, run_id: str) -> dict[str, str | None]: ...

    def remove_tags(self, run_id: str, keys: list[str]) -> None: ...

    def add_properties(self, run_id: str, properties: dict[str, str]) -> None: ...

    # -- files -----------------------------------------------------------------------------------------------
    def file_names(self, run_id: str) -> list[str]: ...

    def log_names(self, run_id: str) -> list[str]:
        """The run's log files (system_logs/..., user_logs/...): what following a run reads."""

    def read_file(self, run_id: str, name: str, offset: int = 0) -> bytes: ...

    def put_file(self, run_id: str, name: str, source: Path) -> None: ...

    # -- creating runs ------------------------------------------------------------------------------------
    def submit(self, experiment: str, config: Any, tags: dict[str, Any] | None,
               properties: dict[str, str] | None = None) -> str: ...

    def start_interactive(self, experiment: str, display_name: str | None, parent_id: str | None,
                          snapshot_directory: Path | None) -> str: ...

    # -- the workspace's other parts ------------------------------------------------------------------------
    def datastore_entries(self) -> dict[str, dict[str, Any]]:
        """name -> {'path'|'url': root, 'storage_options': {...}} as the workspace keeps them."""

    def datastore_location(self, name: str, root: str, storage_options: dict[str, Any]) -> Location:
        """Where a datastore's files are moved through: the store itself here, the server's API remotely."""

    def portal_url(self, run_id: str) -> str: ...

    def compute_targets(self) -> dict[str, Any]:
        """Compute targets by name (here the ComputeTarget objects; a server's: their names and types)."""

    def run_folder(self, run_id: str) -> RunFolder:
        """The run's folder on this machine; a server's runs have none here (WorkspaceError)."""

    def restore_snapshot(self, digest: str, path: Path) -> Path:
        """The snapshot as `<path>/<digest>.zip`."""
