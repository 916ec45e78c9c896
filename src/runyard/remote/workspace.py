"""`Workspace.connect(url, token)`: a workspace behind `runyard server`.

Submitting hashes the source folder here and uploads only the blobs the server lacks; the server
validates the spec, checks the compute target and starts the run.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from runyard import snapshot
from runyard.data.datastore import Datastore
from runyard.locations import clean_relative, is_url
from runyard.errors import InvalidTypeError, WorkspaceError
from runyard.remote.http import API_VERSION, Http
from runyard.remote.run import RemoteRun
from runyard.submission import JobConfig, check_entry_in_snapshot


class RemoteWorkspace:
    is_remote = True

    def __init__(self, url: str, token: str | None = None) -> None:
        self.http = Http(url, token or os.environ.get("RUNYARD_SERVER_TOKEN"))
        version = self.http.json("GET", "/version")
        if version.get("api") != API_VERSION:  # a client and server of different API generations
            raise WorkspaceError(f"the server at {url} speaks API {version.get('api')}, this client {API_VERSION}. "
                                 "Fix: use the same runyard version on both sides")
        self.name = str(version.get("workspace", "remote"))
        self.url = url

    def __repr__(self) -> str:
        return f"RemoteWorkspace(url={self.url!r})"

    @property
    def experiments(self) -> dict[str, RemoteExperiment]:
        return {n: RemoteExperiment(self, n) for n in self.http.json("GET", "/experiments")}

    @property
    def compute_targets(self) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in self.http.json("GET", "/compute")}

    @property
    def datastores(self) -> dict[str, Datastore]:
        return {d["name"]: RemoteDatastore(self, d["name"], d["root"]) for d in self.http.json("GET", "/datastores")}

    def get_default_datastore(self) -> Datastore:
        return self.datastores["workspaceblobstore"]

    def get_run(self, run_id: str) -> RemoteRun:
        details = self.http.json("GET", f"/runs/{run_id}")
        return RemoteRun(RemoteExperiment(self, details["experiment"]), details["runId"])


class RemoteDatastore(Datastore):
    """A datastore of the server: references to it resolve there; files move through the server's API
    (one request per file, each within the server's request size bound)."""

    def __init__(self, workspace: Any, name: str, root: str) -> None:  # noqa: D107 - the server's path
        self.workspace, self.name, self.storage_options = workspace, name, {}
        self.root = root if is_url(root) else Path(root)  # the server's, as its supervisor resolves it
        self.datastore_type = "Url" if is_url(root) else "LocalFolder"
        self._path = f"/datastores/{urllib.parse.quote(name)}/files"

    def _put_file(self, local: Path, rel: str, overwrite: bool) -> bool:
        data, _ = self.workspace.http.request("PUT", f"{self._path}/{urllib.parse.quote(rel)}", raw=local.read_bytes(),
                                              query={"overwrite": str(overwrite).lower()})
        return bool(json.loads(data)["written"])

    def download(self, target_path: str | os.PathLike[str], prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        http = self.workspace.http
        names = http.json("GET", self._path, prefix=clean_relative(prefix, "prefix"))
        copied = 0
        for name in names:
            dest = Path(target_path) / name
            if dest.exists() and not overwrite:
                continue
            data, _ = http.request("GET", f"{self._path}/{urllib.parse.quote(name)}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            copied += 1
        if show_progress:
            print(f"Downloaded {copied} of {len(names)} files from datastore {self.name} on {self.workspace.url}")
        return copied


class RemoteExperiment:
    def __init__(self, workspace: RemoteWorkspace, name: str) -> None:
        self.workspace, self.name = workspace, name

    def __repr__(self) -> str:
        return f"RemoteExperiment(name={self.name!r}, server={self.workspace.url!r})"

    def get_runs(self, **_: Any) -> list[RemoteRun]:
        runs = self.workspace.http.json("GET", "/runs", experiment=self.name, limit=1000)["runs"]
        return [RemoteRun(self, r["runId"]) for r in runs]

    def submit(self, config: Any, tags: dict[str, Any] | None = None, **_: Any) -> RemoteRun:
        if not isinstance(config, JobConfig):
            raise InvalidTypeError("config", config, "cannot be submitted to a remote workspace",
                                   "pass a PyTorch/Estimator or a ScriptRunConfig")
        target = config.job_compute()
        compute = target if isinstance(target, str) else getattr(target, "name", None) or "local"
        spec = config.job_spec(self.name, compute)  # validated here; the server validates again
        manifest, sources = snapshot.scan(config.job_source(), snapshot.SnapshotLimits.from_env())
        check_entry_in_snapshot(spec, {f.path for f in manifest.files})
        spec = replace(spec, snapshot_digest=manifest.digest)
        http = self.workspace.http
        missing = set(http.json("POST", "/blobs/missing",
                                {"digests": [f.digest for f in manifest.files]})["missing"])
        self.uploaded_blobs = len(missing)  # what this submission sent; the server had the rest
        for f in manifest.files:
            if f.digest in missing:
                http.request("PUT", f"/blobs/{f.digest}", raw=sources[f.path].read_bytes())
                missing.discard(f.digest)
        created = http.json("POST", "/runs", {"experiment": self.name, "spec": spec.to_dict(),
                                              "manifest": manifest.to_json(), "tags": tags or {}})
        return RemoteRun(self, created["runId"])
