"""The backend of a workspace folder on this machine: its store, run folders and blobs."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard import snapshot, submission
from runyard.artifacts import ArtifactStore
from runyard.errors import InvalidValueError
from runyard.launch.liveness import reconcile, request_cancel
from runyard.layout import WorkspaceFolder
from runyard.locations import Location, location
from runyard.run_folder import RunFolder
from runyard.status import RunStatus
from runyard.store.base import PARENT_RUN_PROPERTY, RunRecord
from runyard.tracking.ingest import ingest_once
from runyard.tracking.spool import SpoolWriter

if TYPE_CHECKING:
    from runyard.tracking.query import RunMetrics, SeriesView


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z") if ts else None


def run_definition(spec: dict[str, Any], target: str) -> dict[str, Any]:
    resources = spec.get("resources", {})
    return {
        "script": spec.get("entry_script"),
        "command": spec.get("shell_command", ""),
        "arguments": spec.get("arguments", []),
        "Arguments": spec.get("arguments", []),
        "target": target,
        "framework": spec.get("framework"),
        "communicator": (spec.get("backend") or "None"),
        "nodeCount": resources.get("node_count", 1),
        "processCountPerNode": resources.get("process_count_per_node", 1),
        "useGpu": resources.get("use_gpu", False),
        "maxRunDurationSeconds": spec.get("limits", {}).get("max_run_duration_seconds"),
        "environment": spec.get("environment", {}),
        "environmentVariables": dict(spec.get("environment_variables", [])),
        "dataReferences": {b["name"]: b for b in spec.get("inputs", [])},
    }


class LocalBackend:
    poll_interval = 0.1

    def __init__(self, folder: WorkspaceFolder, name: str) -> None:
        self.folder, self.name, self.location = folder, name, str(folder.path)

    @property
    def store(self) -> Any:
        return self.folder.store

    def run_folder(self, run_id: str) -> RunFolder:
        return self.folder.run_folder(run_id)

    # -- finding runs ----------------------------------------------------------------------------------
    def resolve_run_id(self, prefix: str) -> str:
        return str(self.store.resolve_run_id(prefix))

    def record(self, run_id: str) -> RunRecord:
        return self.store.get_run(run_id)  # type: ignore[no-any-return]

    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, filter_string: str | None = None) -> list[RunRecord]:
        from runyard.store.base import RunQuery
        from runyard.store.run_filter import parse

        where = parse(filter_string) if filter_string else None
        return self.store.query_runs(RunQuery(experiment=experiment, status=status, where=where, limit=limit))[1]

    def run_metrics(self, run_ids: list[str]) -> dict[str, RunMetrics]:
        from runyard.tracking.query import run_table

        return run_table(self.store, run_ids=run_ids) if run_ids else {}

    def list_experiments(self) -> list[str]:
        return list(self.store.list_experiments())

    def children(self, run_id: str) -> list[str]:
        experiment = self.record(run_id).experiment
        return [r.run_id for r in self.store.list_runs(experiment=experiment)
                if r.properties.get(PARENT_RUN_PROPERTY) == run_id]

    def children_summary(self, run_id: str) -> list[dict[str, Any]]:
        return [{"runId": c, "status": self.status(c).value, "hyperparameters": {}, "bestPrimaryMetric": None}
                for c in self.children(run_id)]

    # -- status -----------------------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus:
        return reconcile(self.store, self.run_folder(run_id), self.record(run_id).status)

    def details(self, run_id: str) -> dict[str, Any]:
        status = self.status(run_id)
        record = self.record(run_id)
        run_folder = self.run_folder(run_id)
        details: dict[str, Any] = {
            "runId": record.run_id,
            "runNumber": record.number,
            "experiment": record.experiment,
            "displayName": record.display_name or record.run_id,
            "target": record.target,
            "status": status.value,
            "submittedTimeUtc": iso(record.created_time),
            "submittedBy": record.owner,
            "startTimeUtc": iso(record.start_time),
            "endTimeUtc": iso(record.end_time),
            "properties": {**record.properties, "ContentSnapshotId": record.snapshot_digest,
                           "runyard.snapshotId": record.snapshot_digest},
            "tags": self.tags(run_id),
            "runDefinition": run_definition(json.loads(record.spec_json), record.target),
            "logFiles": {n: str(p) for n, p in run_folder.files() if n.startswith(("user_logs/", "system_logs/"))},
            "statusHistory": [{"status": e.status.value, "time": iso(e.time)}
                              for e in self.store.status_events(run_id)],
            "runFolder": str(run_folder.path),
        }
        if record.error:
            details["error"] = {"error": {"message": record.error}}
        if record.status_detail and not status.is_terminal():
            details["statusDetail"] = record.status_detail  # e.g. what a Queued run waits for
        return details

    def set_status(self, run_id: str, status: RunStatus, error: str | None) -> None:
        self.store.set_status(run_id, status, time.time(), error)

    def cancel(self, run_id: str) -> None:
        request_cancel(self.store, self.run_folder(run_id))

    def set_priority(self, run_id: str, priority: int) -> None:
        from runyard.compute.box_queue import set_priority
        from runyard.errors import InvalidValueError

        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidValueError("priority", priority, "must be a whole number", "pass e.g. 10 (higher first)")
        if not set_priority(self.folder, run_id, priority):
            status = self.status(run_id)
            raise InvalidValueError("run", run_id, f"is {status.value}, not waiting in the box's queue, so its "
                                    "priority no longer matters", "reprioritise runs that are still Queued")

    def box_report(self) -> dict[str, Any]:
        from runyard.compute.box_report import box_report
        from runyard.compute.registry import get_target

        return box_report(self.folder, get_target(self.folder, "local"))  # type: ignore[arg-type]

    # -- logging and reading what was logged -------------------------------------------------------------
    def sink(self, run_id: str) -> SpoolWriter:
        """A handle outside the script: its own spool file in the run folder."""
        return SpoolWriter(self.run_folder(run_id).spool_dir, 0,
                           name=f"client-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl")

    def flush(self, run_id: str, writer: SpoolWriter | None) -> None:
        """Store whatever the run's spools hold now, so a read sees everything logged before it."""
        if writer is not None:
            writer.flush()
        ingest_once(self.store, run_id, self.run_folder(run_id).spool_dir)

    def deliver(self, run_id: str, writer: SpoolWriter | None, timeout: float) -> None:
        """On disk is delivered here: the run's supervisor (or the next reader) stores it."""
        if writer is not None:
            writer.flush()

    def metrics(self, run_id: str, name: str | None, rank: int | None, all_ranks: bool) -> dict[str, Any]:
        from runyard.tracking.metrics_view import shape_metrics

        keys = None if name is None else [name]
        return shape_metrics(self.store.metric_values(run_id, keys, rank=rank), all_ranks=all_ranks)

    def system_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        from runyard.store.system_metrics import as_series

        return as_series(self.store.system_metrics(run_id, name))

    def series(self, run_id: str, name: str, rank: int, max_points: int | None,
               step_range: tuple[float, float] | None) -> SeriesView:
        from runyard.tracking.query import get_series

        return get_series(self.store, run_id, name, rank=rank, step_range=step_range, max_points=max_points)

    def tags(self, run_id: str) -> dict[str, str | None]:
        return dict(self.store.get_tags(run_id))

    def remove_tags(self, run_id: str, keys: list[str]) -> None:
        self.store.remove_tags(run_id, keys)

    def add_properties(self, run_id: str, properties: dict[str, str]) -> None:
        self.store.add_properties(run_id, properties)

    # -- files -----------------------------------------------------------------------------------------------
    def mirrored(self, run_id: str) -> ArtifactStore | None:
        """The object store to read a run's files from, when its folder is on another host."""
        return None if self.run_folder(run_id).path.is_dir() else self.folder.artifacts

    def file_names(self, run_id: str) -> list[str]:
        if (artifacts := self.mirrored(run_id)) is not None:
            return artifacts.names(run_id)
        return [name for name, _ in self.run_folder(run_id).files()]

    def log_names(self, run_id: str) -> list[str]:
        if (artifacts := self.mirrored(run_id)) is not None:
            return [n for n in artifacts.names(run_id) if n.startswith(("system_logs/", "user_logs/"))]
        run_folder = self.run_folder(run_id)
        names = [f"system_logs/{p.name}" for p in [run_folder.prepare_log] if p.exists()]
        if run_folder.user_logs.is_dir():
            names += [f"user_logs/{p.name}" for p in run_folder.user_logs.iterdir() if p.is_file()]
        return names

    def read_file(self, run_id: str, name: str, offset: int = 0) -> bytes:
        """The file's bytes from `offset`. Mapped by name straight to its path (confined to the run): following a
        run reads its logs every 0.1 s, and listing every output file for that would grow with the outputs."""
        if (artifacts := self.mirrored(run_id)) is not None:
            return artifacts.read(run_id, name, offset)
        run_folder = self.run_folder(run_id)
        path = run_folder.path_of(name)
        if path is None or not path.is_file():
            path = run_folder.file_path(name)  # names shown with \xNN escapes are matched through the listing
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()

    def file_path(self, run_id: str, name: str) -> Path:
        return self.run_folder(run_id).file_path(name)

    def put_file(self, run_id: str, name: str, source: Path) -> None:
        target = self.run_folder(run_id).upload_target(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    # -- creating runs ------------------------------------------------------------------------------------
    def rerun(self, run_id: str, allow_changes: bool) -> str:
        """A new run from what `run_id` recorded, linked to it; refused (nothing written) if what it would
        get differs from what the original had, unless `allow_changes`."""
        from runyard.launch.rerun import plan_rerun

        record = self.record(run_id)
        if not self.folder.blobs.has(record.snapshot_digest):
            raise InvalidValueError("run", run_id, f"has lost its snapshot {record.snapshot_digest[:12]} (the blobs "
                                    "folder was cleaned)", "submit its source folder again")
        spec, properties, _ = plan_rerun(record, self.folder.path, allow_changes)
        compute = submission.resolve_compute(self.folder, spec.compute_target)
        compute.check(spec)
        return submission.record_and_launch(self.folder, spec, compute, self.tags(run_id), properties)

    def submit(self, experiment: str, config: Any, tags: dict[str, Any] | None,
               properties: dict[str, str] | None = None) -> str:
        return submission.submit(self.folder, experiment, config, tags, properties)

    def start_interactive(self, experiment: str, display_name: str | None, parent_id: str | None,
                          snapshot_directory: Path | None) -> str:
        digest = ""
        if snapshot_directory is not None:
            manifest, sources = snapshot.scan(snapshot_directory, self.folder.snapshot_limits)
            snapshot.store(manifest, sources, self.folder.blobs)
            digest = manifest.digest
        run_id = submission.new_run_id(experiment)
        self.run_folder(run_id).create("{}")
        now = time.time()
        self.store.create_run(RunRecord(
            run_id=run_id, experiment=experiment, status=RunStatus.RUNNING, target="interactive", created_time=now,
            display_name=display_name or "", snapshot_digest=digest,
            properties={PARENT_RUN_PROPERTY: parent_id} if parent_id else {}))
        self.store.set_status(run_id, RunStatus.RUNNING, now)
        return run_id

    def restore_snapshot(self, digest: str, path: Path) -> Path:
        return snapshot.restore_zip(self.folder.blobs, digest, path)

    # -- the workspace's other parts ------------------------------------------------------------------------
    def datastore_entries(self) -> dict[str, dict[str, Any]]:
        return self.folder.datastore_entries()

    def datastore_location(self, name: str, root: str, storage_options: dict[str, Any]) -> Location:
        return location(root, storage_options)

    def compute_targets(self) -> dict[str, Any]:
        from runyard.compute.registry import all_targets

        return dict(all_targets(self.folder))

    def portal_url(self, run_id: str) -> str:
        """The run's page in the UI serving this workspace now, else at `runyard ui`'s default address."""
        from urllib.parse import quote

        from runyard.portal import run_page_url

        serving = self.folder.serving_url()
        return f"{serving}#/run/{quote(run_id, safe='')}" if serving else run_page_url(run_id)
