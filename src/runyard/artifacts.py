"""Run files in an object store: a team server's outputs, logs and snapshots, readable from any host.

    <uri>/runs/<run id>/<run file name>     outputs/..., logs/..., user_logs/..., system_logs/...
    <uri>/blobs/<sha256>                    snapshot files (and manifests) by content

`runyard server --artifacts s3://bucket/prefix` records the URI in the workspace (any fsspec URL works:
s3://, gs://, abfs://, file://); credentials and the endpoint come from the environment, as for the
cloud's own tools (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...), never from runyard's files.
The run's supervisor mirrors its logs while it runs and every file before its final status, so a
reader that sees a run ended finds all its files there; readers on a host without the run's folder
(another server process, another machine) list and read them from here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.errors import InvalidValueError, WorkspaceError
from runyard.install_hint import install_extra
from runyard.run_folder import RunFolder

ARTIFACTS_ENV = "RUNYARD_ARTIFACTS_URI"
ARTIFACTS_PROPERTY = "runyard.artifacts"  # set on a run once its files are in the object store
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtifactStore:
    uri: str

    @staticmethod
    def parse(uri: str, field: str = "--artifacts") -> ArtifactStore:
        if "://" not in uri or uri.split("://", 1)[1].strip("/") == "":
            raise InvalidValueError(field, uri, "is not an object store URL with a bucket",
                                    "pass e.g. s3://bucket/runyard (credentials from the environment)")
        return ArtifactStore(uri.rstrip("/"))

    def _fs(self) -> tuple[Any, str]:
        import fsspec

        try:
            return fsspec.core.url_to_fs(self.uri)
        except (ImportError, ValueError) as e:
            raise WorkspaceError(f"artifacts {self.uri}: {e}. Fix: install the filesystem's package "
                                 f"({install_extra('s3')} for s3://)") from None

    def check(self) -> None:
        """Reachable and writable: a small marker written and read back, before a server says it is up."""
        fs, root = self._fs()
        marker = f"{root}/.runyard-artifacts"
        try:
            fs.pipe_file(marker, b"runyard run files\n")
            fs.cat_file(marker)
        except Exception as e:  # noqa: BLE001 - any backend's error, named with the fix
            raise WorkspaceError(f"artifacts {self.uri}: cannot write there ({type(e).__name__}: {e}). Fix: check "
                                 "the bucket exists and the credentials in the environment may write it") from None

    def run_prefix(self, run_id: str) -> str:
        return f"{self._fs()[1]}/runs/{run_id}"

    # -- writing (the supervisor) ------------------------------------------------------------------------
    def put_files(self, run_id: str, files: list[tuple[str, Path]]) -> None:
        fs, root = self._fs()
        for name, path in files:
            fs.put_file(str(path), f"{root}/runs/{run_id}/{name}")

    def put_blobs(self, blobs: dict[str, Path]) -> None:
        """Snapshot blobs by content (a snapshot's manifest is a blob too); those already there are skipped."""
        fs, root = self._fs()
        for sha, path in blobs.items():
            target = f"{root}/blobs/{sha}"
            if not fs.exists(target):
                fs.put_file(str(path), target)

    # -- reading (servers and clients on any host) ------------------------------------------------------
    def names(self, run_id: str) -> list[str]:
        fs, root = self._fs()
        base = f"{root}/runs/{run_id}/"
        try:
            found = fs.find(base)
        except FileNotFoundError:
            return []
        return sorted(p[len(base):] for p in found if p.startswith(base))

    def read(self, run_id: str, name: str, offset: int = 0) -> bytes:
        fs, root = self._fs()
        try:
            return bytes(fs.cat_file(f"{root}/runs/{run_id}/{name}", start=offset or None))
        except FileNotFoundError:
            raise InvalidValueError("name", name, f"is not a file of run {run_id}",
                                    "pick one of run.get_file_names()") from None

    def get(self, run_id: str, name: str, target: Path) -> None:
        fs, root = self._fs()
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(f"{root}/runs/{run_id}/{name}", str(target))


class RunMirror:
    """The supervisor's side: logs every few seconds while the run goes on, everything at the end."""

    def __init__(self, artifacts: ArtifactStore, folder: RunFolder, snapshot_blobs: dict[str, Path],
                 interval: float = 3.0) -> None:
        self.artifacts, self.folder, self.interval = artifacts, folder, interval
        self.snapshot_blobs = snapshot_blobs
        self._sent: dict[str, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runyard-artifacts", daemon=True)
        self.last_error: str | None = None

    def start(self) -> RunMirror:
        self._thread.start()
        return self

    def _changed(self, logs_only: bool) -> list[tuple[str, Path]]:
        changed = []
        for name, path in self.folder.files():
            if logs_only and not name.startswith(("user_logs/", "system_logs/")):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if self._sent.get(name) != (stat.st_size, stat.st_mtime):
                changed.append((name, path))
                self._sent[name] = (stat.st_size, stat.st_mtime)
        return changed

    def sync(self, logs_only: bool) -> None:
        try:
            self.artifacts.put_files(self.folder.run_id, self._changed(logs_only))
            self.last_error = None
        except Exception as e:  # noqa: BLE001 - the object store may be away for a while; the files stay here
            self.last_error = f"{type(e).__name__}: {e}"
            self._sent.clear()  # send everything again next time

    def _loop(self) -> None:
        try:
            self.artifacts.put_blobs(self.snapshot_blobs)
            self.snapshot_blobs = {}
        except Exception as e:  # noqa: BLE001 - tried again at the end
            self.last_error = f"{type(e).__name__}: {e}"
        while not self._stop.wait(self.interval):
            self.sync(logs_only=True)

    def finish(self) -> str | None:
        """Every file, once; the error when the object store could not take them (they stay in the folder)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for _ in range(3):
            self.sync(logs_only=False)
            try:
                self.artifacts.put_blobs(self.snapshot_blobs)
                self.snapshot_blobs = {}
            except Exception as e:  # noqa: BLE001
                self.last_error = f"{type(e).__name__}: {e}"
            if self.last_error is None:
                return None
        return self.last_error
