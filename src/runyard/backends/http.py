"""The backend of a workspace behind `runyard server` (`Workspace.connect(url, token)`, or a workspace given as
an http(s):// URL to the CLI): every call is a request to its REST API (/api/v1).

Logging goes through a spool file here, shipped to the server's spool endpoint exactly as a cluster node's
spools are; submitting hashes the source folder here and uploads only the blobs the server lacks; the
server validates the spec again and starts the run.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard import snapshot
from runyard.backends.http_client import API_VERSION, Http
from runyard.errors import InvalidValueError, WorkspaceError
from runyard.locations import clean_relative
from runyard.status import RunStatus
from runyard.store.base import MetricKind, MetricSummary, RunRecord
from runyard.submission import JobConfig, check_entry_in_snapshot
from runyard.tracking.query import RunMetrics, SeriesView
from runyard.tracking.shipper import SpoolShipper
from runyard.tracking.spool import SpoolWriter

if TYPE_CHECKING:
    from runyard.locations import Location
    from runyard.run_folder import RunFolder

_log = logging.getLogger(__name__)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class HttpBackend:
    poll_interval = 0.5  # each poll is a few requests to the server

    def __init__(self, url: str, token: str | None = None) -> None:
        self.http = Http(url, token or os.environ.get("RUNYARD_SERVER_TOKEN"))
        version = self.http.json("GET", "/version")
        if version.get("api") != API_VERSION:  # a client and server of different API generations
            raise WorkspaceError(f"the server at {url} speaks API {version.get('api')}, this client {API_VERSION}. "
                                 "Fix: use the same runyard version on both sides")
        self.name = str(version.get("workspace", "remote"))
        self.location = self.url = url.rstrip("/")
        self._shippers: dict[int, tuple[SpoolWriter, SpoolShipper]] = {}
        self.uploaded_blobs = 0  # what the last submission sent (the server had the rest)

    def _run(self, run_id: str) -> str:
        return f"/runs/{_q(run_id)}"

    # -- finding runs ----------------------------------------------------------------------------------
    def resolve_run_id(self, prefix: str) -> str:
        return str(self.http.json("GET", self._run(prefix) + "/record")["run_id"])

    def record(self, run_id: str) -> RunRecord:
        d = self.http.json("GET", self._run(run_id) + "/record")
        return RunRecord(**{**d, "status": RunStatus(d["status"])})

    def _listing(self, experiment: str | None, status: RunStatus | None, limit: int | None,
                 filter_string: str | None = None) -> list[dict[str, Any]]:
        """Every matching run (pages of 1000), or the first `limit`."""
        if filter_string:
            from runyard.store.run_filter import parse

            parse(filter_string)  # a bad expression is named here, before any request
        found: list[dict[str, Any]] = []
        while limit is None or len(found) < limit:
            page = self.http.json("GET", "/runs", experiment=experiment, status=status.value if status else None,
                                  filter=filter_string, offset=len(found),
                                  limit=min(1000, (limit - len(found)) if limit else 1000))
            found += page["runs"]
            if not page["runs"] or len(found) >= page["total"]:
                break
        return found

    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, filter_string: str | None = None) -> list[RunRecord]:
        return [RunRecord(run_id=r["runId"], experiment=r["experiment"], status=RunStatus(r["status"]),
                          target=r["target"], created_time=r["created"], start_time=r["start"], end_time=r["end"],
                          properties=r.get("properties") or {}, owner=r.get("owner") or "",
                          status_detail=r.get("statusDetail") or "")
                for r in self._listing(experiment, status, limit, filter_string)]

    def run_metrics(self, run_ids: list[str]) -> dict[str, RunMetrics]:
        wanted, table = set(run_ids), {}
        for r in self._listing(None, None, None):
            if r["runId"] in wanted:
                table[r["runId"]] = RunMetrics(r["runId"], {k: MetricSummary(
                    run_id=r["runId"], key=k, rank=0, kind=MetricKind.SCALAR, count=m["count"], last_step=None,
                    last_time=None, last=m["last"], min=m["min"], max=m["max"]) for k, m in r["metrics"].items()})
        return table

    def list_experiments(self) -> list[str]:
        return list(self.http.json("GET", "/experiments"))

    def children_summary(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.http.json("GET", self._run(run_id) + "/children")["children"])

    def children(self, run_id: str) -> list[str]:
        return [c["runId"] for c in self.children_summary(run_id)]

    # -- status -----------------------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus:
        return RunStatus(self.http.json("GET", self._run(run_id) + "/record")["status"])

    def details(self, run_id: str) -> dict[str, Any]:
        return dict(self.http.json("GET", self._run(run_id)))

    def set_status(self, run_id: str, status: RunStatus, error: str | None) -> None:
        self.http.json("POST", self._run(run_id) + "/status", {"status": status.value, "error": error})

    def rerun(self, run_id: str, allow_changes: bool) -> str:
        return str(self.http.json("POST", self._run(run_id) + "/rerun", {"allowChanges": allow_changes})["runId"])

    def cancel(self, run_id: str) -> None:
        self.http.json("POST", self._run(run_id) + "/cancel")

    def set_priority(self, run_id: str, priority: int) -> None:
        self.http.json("POST", self._run(run_id) + "/priority", {"priority": priority})

    def box_report(self) -> dict[str, Any]:
        return dict(self.http.json("GET", "/box"))

    # -- logging and reading what was logged -------------------------------------------------------------
    def sink(self, run_id: str) -> SpoolWriter:
        spool_dir = tempfile.mkdtemp(prefix="runyard-remote-spool-")
        writer = SpoolWriter(spool_dir, 0, name=f"client-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl")
        shipper = SpoolShipper(self.url, run_id, writer.path.parent, token=self.http.token).start()
        self._shippers[id(writer)] = (writer, shipper)
        atexit.register(self._close, run_id, id(writer))
        return writer

    def flush(self, run_id: str, writer: SpoolWriter | None, timeout: float = 300.0) -> None:
        """What `writer` logged is stored by the server when this returns; a RunyardError naming what is
        left (kept on disk, sent later) when the server has not taken it within `timeout` seconds."""
        if writer is not None and id(writer) in self._shippers:
            writer.flush()
            self._shippers[id(writer)][1].deliver_all(timeout, f"run {run_id}'s metrics")

    def deliver(self, run_id: str, writer: SpoolWriter | None, timeout: float) -> None:
        self.flush(run_id, writer, timeout)

    def _close(self, run_id: str, key: int) -> None:
        writer, shipper = self._shippers.pop(key, (None, None))
        if writer is None or shipper is None:
            return
        writer.flush()
        shipper.stop()
        if shipper.last_error is None:
            shutil.rmtree(writer.path.parent, ignore_errors=True)
        else:  # never silently: what did not reach the server stays on disk, and the user is told where
            _log.warning("metrics logged for run %s could not all reach %s (%s); they are kept in %s",
                         run_id, self.url, shipper.last_error, writer.path)

    def metrics(self, run_id: str, name: str | None, rank: int | None, all_ranks: bool) -> dict[str, Any]:
        found = dict(self.http.json("GET", self._run(run_id) + "/metrics", rank=rank,
                                    all_ranks=str(all_ranks).lower())["metrics"])
        return found if name is None else ({name: found[name]} if name in found else {})

    def system_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        query = {"name": name} if name else {}
        return dict(self.http.json("GET", self._run(run_id) + "/system", **query)["system"])

    def series(self, run_id: str, name: str, rank: int, max_points: int | None,
               step_range: tuple[float, float] | None) -> SeriesView:
        query: dict[str, Any] = {"rank": rank, "max_points": max_points or 100_000}
        if step_range is not None:
            query.update(step_min=step_range[0], step_max=step_range[1])
        d = self.http.json("GET", f"{self._run(run_id)}/metrics/{_q(name)}/series", **query)
        return SeriesView(name, rank, d["steps"], d["values"], d["times"], d["total"], d["downsampled"])

    def tags(self, run_id: str) -> dict[str, str | None]:
        return dict(self.details(run_id)["tags"])

    def remove_tags(self, run_id: str, keys: list[str]) -> None:
        self.http.json("POST", self._run(run_id) + "/tags/remove", {"keys": keys})

    def add_properties(self, run_id: str, properties: dict[str, str]) -> None:
        self.http.json("POST", self._run(run_id) + "/properties", properties)

    # -- files -----------------------------------------------------------------------------------------------
    def file_names(self, run_id: str) -> list[str]:
        return list(self.details(run_id)["files"])

    def log_names(self, run_id: str) -> list[str]:
        return [n for n in self.file_names(run_id) if n.startswith(("system_logs/", "user_logs/"))]

    def read_file(self, run_id: str, name: str, offset: int = 0) -> bytes:
        path = f"{self._run(run_id)}/files/{urllib.parse.quote(name)}"
        data, _ = self.http.request("GET", path, query={"offset": offset} if offset else None)
        return data

    def put_file(self, run_id: str, name: str, source: Path) -> None:
        self.http.request("PUT", f"{self._run(run_id)}/files/{urllib.parse.quote(name)}", raw=source.read_bytes())

    # -- creating runs ------------------------------------------------------------------------------------
    def submit(self, experiment: str, config: Any, tags: dict[str, Any] | None,
               properties: dict[str, str] | None = None) -> str:
        if not isinstance(config, JobConfig):
            raise InvalidValueError("config", type(config).__name__, "cannot be submitted to a remote workspace",
                                    "pass a PyTorch/Estimator or a ScriptRunConfig (sweeps run on the server's "
                                    "own workspace)")
        target = config.job_compute()
        compute = target if isinstance(target, str) else getattr(target, "name", None) or "local"
        spec = config.job_spec(experiment, compute)  # validated here; the server validates again
        manifest, sources = snapshot.scan(config.job_source(), snapshot.SnapshotLimits.from_env())
        check_entry_in_snapshot(spec, {f.path for f in manifest.files})
        spec = replace(spec, snapshot_digest=manifest.digest)
        missing = set(self.http.json("POST", "/blobs/missing",
                                     {"digests": [f.digest for f in manifest.files]})["missing"])
        self.uploaded_blobs = len(missing)
        for f in manifest.files:
            if f.digest in missing:
                self.http.request("PUT", f"/blobs/{f.digest}", raw=sources[f.path].read_bytes())
                missing.discard(f.digest)
        created = self.http.json("POST", "/runs", {"experiment": experiment, "spec": spec.to_dict(),
                                                   "manifest": manifest.to_json(), "tags": tags or {},
                                                   "properties": properties or {}})
        return str(created["runId"])

    def start_interactive(self, experiment: str, display_name: str | None, parent_id: str | None,
                          snapshot_directory: Path | None) -> str:
        if snapshot_directory is not None:
            raise InvalidValueError("snapshot_directory", str(snapshot_directory),
                                    "is not taken for interactive runs of a remote workspace",
                                    "leave it out, or submit the folder as a run (exp.submit(ScriptRunConfig(...)))")
        created = self.http.json("POST", "/runs/interactive", {"experiment": experiment, "displayName": display_name,
                                                               "parentId": parent_id})
        return str(created["runId"])

    def run_folder(self, run_id: str) -> RunFolder:
        raise WorkspaceError(f"run {run_id} is kept by the server {self.url}; it has no folder here. Fix: read its "
                             "files with run.get_file_names() / run.download_file(), or register models on the "
                             "server's machine")

    def restore_snapshot(self, digest: str, path: Path) -> Path:
        raise InvalidValueError("snapshot_id", digest, f"is kept on the server {self.url}",
                                "restore it on the server's machine (runyard -w PATH), or download the run's files")

    # -- the workspace's other parts ------------------------------------------------------------------------
    def datastore_entries(self) -> dict[str, dict[str, Any]]:
        entries = {}
        for d in self.http.json("GET", "/datastores"):
            root = str(d["root"])
            entries[d["name"]] = {"url": root} if "://" in root else {"path": root}
        return entries

    def datastore_location(self, name: str, root: str, storage_options: dict[str, Any]) -> Location:
        return HttpLocation(self.http, name)

    def compute_targets(self) -> dict[str, Any]:
        return {t["name"]: t for t in self.http.json("GET", "/compute")}

    def portal_url(self, run_id: str) -> str:
        return f"{self.url}/#/run/{_q(run_id)}"


class HttpLocation:
    """A datastore of the server, its files moved through the server's API (one request per file, each
    within the server's request size bound); references to it resolve on the server."""

    def __init__(self, http: Http, name: str) -> None:
        self.http, self.name = http, name
        self._path = f"/datastores/{_q(name)}/files"

    def local_path(self, rel: str) -> Path | None:
        return None

    def files(self, prefix: str = "") -> list[str]:
        return list(self.http.json("GET", self._path, prefix=clean_relative(prefix, "prefix")))

    def exists(self, rel: str) -> bool:
        rel = clean_relative(rel, "path")
        return any(f == rel or f.startswith(rel.rstrip("/") + "/") for f in self.files(rel))

    def get(self, rel: str, dest: Path) -> None:
        data, _ = self.http.request("GET", f"{self._path}/{urllib.parse.quote(rel)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    def put(self, source: Path, rel: str, overwrite: bool) -> bool:
        data, _ = self.http.request("PUT", f"{self._path}/{urllib.parse.quote(rel)}", raw=source.read_bytes(),
                                    query={"overwrite": str(overwrite).lower()})
        return bool(json.loads(data)["written"])
