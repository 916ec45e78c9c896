"""A run of a remote workspace: status, details, metrics, files, logs and cancel over HTTP."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runyard.errors import ActivityFailedException, InvalidValueError
from runyard.status import RunStatus
from runyard.tracking.logging_api import MetricLogging
from runyard.tracking.shipper import SpoolShipper
from runyard.tracking.spool import SpoolWriter

if TYPE_CHECKING:
    from runyard.remote.workspace import RemoteExperiment


class RemoteRun(MetricLogging):
    def __init__(self, experiment: RemoteExperiment, run_id: str) -> None:
        self.experiment, self.id = experiment, run_id
        self._http = experiment.workspace.http
        self._path = f"/runs/{urllib.parse.quote(run_id)}"
        self._writer: SpoolWriter | None = None
        self._shipper: SpoolShipper | None = None

    # -- logging: a spool file here, shipped to the server as a worker's spools are ----------------
    def _sink(self) -> SpoolWriter:
        if self._writer is None:
            spool_dir = tempfile.mkdtemp(prefix="runyard-remote-spool-")
            self._writer = SpoolWriter(spool_dir, 0, name=f"client-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl")
            self._shipper = SpoolShipper(self._http.url, self.id, self._writer.path.parent,
                                         token=self._http.token).start()
            atexit.register(self._close)
        return self._writer

    def _store_file(self, name: str, data: bytes) -> None:
        self._http.request("PUT", f"{self._path}/files/{urllib.parse.quote(name)}", raw=data)

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes]) -> None:
        """As Run.upload_file: the file becomes the run's `name`, on the server."""
        if isinstance(path_or_stream, (str, os.PathLike)):
            if not Path(path_or_stream).is_file():
                raise InvalidValueError("path_or_stream", str(path_or_stream), "is not an existing file",
                                        "pass the path of a file to upload")
            data = Path(path_or_stream).read_bytes()
        else:
            data = path_or_stream.read()
        self._store_file(name, data)

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> None:
        for p in sorted(Path(path).rglob("*")):
            if p.is_file():
                self.upload_file(f"{name.rstrip('/')}/{p.relative_to(path).as_posix()}", p)

    def flush(self) -> None:
        """What this handle logged is on the server when this returns (raises while it is unreachable)."""
        if self._writer is not None and self._shipper is not None:
            self._writer.flush()
            self._shipper.ship_once()

    def _close(self) -> None:
        if self._writer is not None and self._shipper is not None:
            self._writer.flush()
            self._shipper.stop()
            if self._shipper.last_error is None:
                shutil.rmtree(self._writer.path.parent, ignore_errors=True)
            else:  # never silently: what did not reach the server stays on disk, and the user is told where
                print(f"runyard: metrics logged for run {self.id} could not all reach {self._http.url} "
                      f"({self._shipper.last_error}); they are kept in {self._writer.path}", file=sys.stderr)

    def __repr__(self) -> str:
        return f"RemoteRun(id={self.id!r}, server={self._http.url!r})"

    def get_details(self) -> dict[str, Any]:
        return dict(self._http.json("GET", self._path))

    def get_status(self) -> str:
        return str(self.get_details()["status"])

    def get_tags(self) -> dict[str, Any]:
        self.flush()
        return dict(self.get_details()["tags"])

    def get_metrics(self, name: str | None = None, **_: Any) -> dict[str, Any]:
        self.flush()
        metrics = dict(self._http.json("GET", self._path + "/metrics")["metrics"])
        if name is None:
            return metrics
        return {name: metrics[name]} if name in metrics else {}

    def get_file_names(self) -> list[str]:
        return list(self.get_details()["files"])

    def download_file(self, name: str, output_file_path: str | None = None, **_: Any) -> None:
        data, _ = self._http.request("GET", f"{self._path}/files/{urllib.parse.quote(name)}")
        target = Path(output_file_path or Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None, **_: Any) -> None:
        for name in self.get_file_names():
            if not prefix or name.startswith(prefix):
                self.download_file(name, str(Path(output_directory or ".") / name))

    def cancel(self) -> None:
        self._http.json("POST", self._path + "/cancel")

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True, poll_interval: float = 0.5,
                            out: IO[str] | None = None) -> dict[str, Any]:
        out = out or sys.stdout
        offset = 0
        if show_output:
            out.write(f"RunId: {self.id}\nServer: {self._http.url}\n\nStreaming the run's output:\n")
        while True:
            status = RunStatus(self.get_status())
            if show_output:
                data, headers = self._http.request("GET", f"{self._path}/logs/0", query={"offset": offset})
                offset = int(headers.get("X-Next-Offset", headers.get("x-next-offset", offset)))
                out.write(data.decode("utf-8", errors="replace"))
                out.flush()
            if status.is_terminal():
                break
            time.sleep(poll_interval)
        details = self.get_details()
        if show_output:
            out.write(f"\nExecution Summary\n=================\nRunId: {self.id}\nStatus: {details['status']}\n")
        if details["status"] == RunStatus.FAILED.value and raise_on_error:
            message = details.get("error", {}).get("error", {}).get("message", "unknown error")
            raise ActivityFailedException(f"run {self.id} failed: {message}", run_id=self.id, error_details=message)
        return details
