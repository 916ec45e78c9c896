"""Remote submission: the snapshot's missing blobs, then the run (validated and started server-side)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from runyard.locations import clean_relative
from runyard.errors import InvalidValueError, RunyardError
from runyard.experiment import Experiment
from runyard.server.uploads import receive_to
from runyard.submission import check_entry_in_snapshot, record_and_launch
from runyard.snapshot import Manifest
from runyard.spec import JobSpec
from runyard.store.base import PARENT_RUN_PROPERTY
from runyard.workspace import Workspace

_HEX = set("0123456789abcdef")


def _digest(value: str) -> str:
    if len(value) != 64 or not set(value) <= _HEX:
        raise HTTPException(400, f"digest={value!r}: not a sha256 hex digest")
    return value


def revalidate(ws: Workspace, spec: JobSpec, manifest: Manifest, experiment: str) -> JobSpec:
    """A client's JobSpec is checked again here as the local API checks it, and everything that names a
    place on this machine is taken from this workspace, never from the client: the entry script must be a
    file of the snapshot, each data reference a registered datastore with a path inside it, and data lands
    inside the run's folder."""
    Experiment(ws, experiment)  # the name follows the local API's rule
    limits = ws.snapshot_limits
    if manifest.total_bytes > limits.max_bytes or len(manifest.files) > limits.max_files:
        raise InvalidValueError("snapshot", f"{len(manifest.files)} files, {manifest.total_bytes} bytes",
                                f"exceeds the limit of {limits.max_bytes / 2**20:.1f} MB / {limits.max_files} files",
                                "leave large files out with .amlignore, or pass them through a datastore")
    if spec.entry_script:
        script = PurePosixPath(spec.entry_script)
        if script.is_absolute() or ".." in script.parts:
            raise InvalidValueError("entry_script", spec.entry_script, "is outside the snapshot",
                                    "name a script of the source folder, relative to it")
        check_entry_in_snapshot(spec, {f.path for f in manifest.files})
    elif not spec.shell_command:
        raise InvalidValueError("entry_script", "", "is empty and there is no command", "name the script to run")
    stores = ws.datastores
    inputs = []
    for binding in spec.inputs:
        if binding.datastore not in stores:
            raise InvalidValueError("datastore", binding.datastore, "is not registered on the server",
                                    f"use one of {sorted(stores)}")
        clean_relative(binding.path_on_datastore, "path_on_datastore")
        if binding.path_on_compute:
            clean_relative(binding.path_on_compute, "path_on_compute")
        inputs.append(replace(binding, datastore_root=str(stores[binding.datastore].root)))
    return replace(spec, experiment=experiment, inputs=tuple(inputs))


def build_submit_router(ws: Workspace) -> APIRouter:
    api = APIRouter(prefix="/api/v1")

    @api.get("/compute")
    def compute() -> list[dict[str, Any]]:
        return [{"name": n, "type": t.type} for n, t in sorted(ws.compute_targets.items())]

    @api.get("/datastores")
    def datastores() -> list[dict[str, Any]]:
        return [d.serialize() for _, d in sorted(ws.datastores.items())]

    @api.get("/datasets")
    def datasets() -> list[dict[str, Any]]:
        from runyard.data.dataset import Dataset

        return [d.serialize() for d in Dataset.get_all(ws).values()]

    def _store(name: str) -> Any:
        stores = ws.datastores
        if name not in stores:
            raise HTTPException(404, f"datastore name={name!r}: not in this workspace")
        return stores[name]

    @api.get("/datastores/{name}/files")
    def datastore_files(name: str, prefix: str = "") -> list[str]:
        try:
            return _store(name).location.files(clean_relative(prefix, "prefix"))
        except RunyardError as e:
            raise HTTPException(400, str(e)) from None

    @api.get("/datastores/{name}/files/{path:path}")
    def datastore_file(name: str, path: str) -> Response:
        try:
            rel = clean_relative(path, "path")
            with tempfile.TemporaryDirectory() as tmp:
                if rel not in _store(name).location.files(rel):
                    raise HTTPException(404, f"path={path!r}: no such file in datastore {name!r}")
                _store(name).location.get(rel, Path(tmp) / "f")
                return Response((Path(tmp) / "f").read_bytes(), media_type="application/octet-stream")
        except RunyardError as e:
            raise HTTPException(400, str(e)) from None

    @api.put("/datastores/{name}/files/{path:path}")
    async def put_datastore_file(name: str, path: str, request: Request, overwrite: bool = False) -> dict[str, Any]:
        """One file into a datastore of the server (what ds.upload does from a remote client)."""
        try:
            rel = clean_relative(path, "path")
            if not rel:
                raise HTTPException(400, "path='': name the file to write")
            store = _store(name)
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "f"
                await receive_to(request, local)
                return {"written": store.location.put(local, rel, overwrite)}
        except RunyardError as e:
            raise HTTPException(400, str(e)) from None

    @api.post("/blobs/missing")
    def missing(body: dict[str, list[str]]) -> dict[str, list[str]]:
        digests = [_digest(d) for d in body.get("digests", [])]
        return {"missing": [d for d in dict.fromkeys(digests) if not ws.blobs.has(d)]}

    @api.put("/blobs/{digest}")
    async def put_blob(digest: str, request: Request) -> dict[str, str]:
        _digest(digest)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "blob"
            if await receive_to(request, local) != digest:
                raise HTTPException(400, f"digest={digest!r}: the content does not hash to it")
            ws.blobs.put_file(digest, local)
        return {"digest": digest}

    @api.post("/runs")
    def submit(body: dict[str, Any]) -> dict[str, str]:
        from runyard.compute.registry import get_target

        try:
            manifest = Manifest.from_json(body["manifest"])
            spec = JobSpec.from_dict(body["spec"])
            if manifest.digest != spec.snapshot_digest:
                raise HTTPException(400, "the manifest does not match spec.snapshot_digest")
            absent = [f.digest for f in manifest.files if not ws.blobs.has(f.digest)]
            if absent:
                raise HTTPException(409, f"snapshot blobs missing: {absent[:5]}")
            spec = revalidate(ws, spec, manifest, body["experiment"])
            ws.blobs.put_bytes(manifest.to_json().encode())
            compute = get_target(ws.folder, spec.compute_target)
            compute.check(spec)
            tags = body.get("tags") or {}
            if not isinstance(tags, dict):
                raise InvalidValueError("tags", tags, "must be a dict", "send {'key': 'value'}")
            properties = {}
            parent = (body.get("properties") or {}).get(PARENT_RUN_PROPERTY)
            if parent is not None:  # a client's run.submit_child(): the parent must be a run here
                properties[PARENT_RUN_PROPERTY] = ws.store.get_run(ws.store.resolve_run_id(str(parent))).run_id
            run_id = record_and_launch(ws.folder, spec, compute, tags, properties)
        except RunyardError as e:
            raise HTTPException(400, str(e)) from None
        except (KeyError, TypeError, ValueError) as e:
            raise HTTPException(400, f"malformed submission: {e}") from None
        return {"runId": run_id}

    return api
