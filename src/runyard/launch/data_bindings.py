"""Resolving data references to local paths on the node (before the script) and uploading (after).

A datastore that is a local folder is mounted as that folder; one behind fsspec (s3://, gs://...) has
nothing to mount, so a mount is a download into the working folder there (the log says so)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runyard.locations import Location, location
from runyard.errors import InvalidValueError
from runyard.spec import DataBinding, DataMode


def _local(binding: DataBinding, working_dir: Path) -> Path:
    rel = binding.path_on_compute or binding.path_on_datastore or binding.name
    target = (working_dir / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    return target


def _store(binding: DataBinding, options: Mapping[str, dict[str, Any]]) -> Location:
    return location(binding.datastore_root, options.get(binding.datastore))


def _missing(binding: DataBinding) -> InvalidValueError:
    return InvalidValueError(f"data reference {binding.name}", f"{binding.datastore_root}/{binding.path_on_datastore}",
                             f"does not exist in datastore {binding.datastore}",
                             "upload the data first (ds.upload(...)) or fix the path")


def resolve_inputs(bindings: tuple[DataBinding, ...], working_dir: Path, log: list[str],
                   storage_options: Mapping[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Returns {AZUREML_DATAREFERENCE_<name>: local path}; downloads happen here. `storage_options`:
    datastore name -> the options its fsspec backend needs (from the workspace config)."""
    env: dict[str, str] = {}
    for b in bindings:
        store = _store(b, storage_options or {})
        mounted = store.local_path(b.path_on_datastore) if b.mode is DataMode.MOUNT else None
        if b.mode is DataMode.UPLOAD:
            path = _local(b, working_dir)
            path.mkdir(parents=True, exist_ok=True)
            log.append(f"upload {path} -> {b.datastore}/{b.path_on_datastore} (after the run)")
        elif not store.exists(b.path_on_datastore):
            raise _missing(b)
        elif mounted is not None:
            path = mounted
            log.append(f"mount {b.datastore}/{b.path_on_datastore} -> {path}")
        else:
            path = _local(b, working_dir)
            store.get(b.path_on_datastore, path)
            how = "download" if b.mode is DataMode.DOWNLOAD else "mount (a download: nothing to mount for a URL)"
            log.append(f"{how} {b.datastore}/{b.path_on_datastore} -> {path}")
        env[b.env_var] = str(path)
        if b.dataset:
            env[f"RUNYARD_DATASET_{b.name}"] = b.dataset
    return env


def upload_outputs(bindings: tuple[DataBinding, ...], working_dir: Path, log: list[str],
                   storage_options: Mapping[str, dict[str, Any]] | None = None) -> None:
    for b in bindings:
        if b.mode is not DataMode.UPLOAD:
            continue
        local = _local(b, working_dir)
        if not local.exists():
            continue
        store = _store(b, storage_options or {})
        prefix = b.path_on_datastore.strip("/")
        for f in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = f.relative_to(local).as_posix()
            if not store.put(f, f"{prefix}/{rel}" if prefix else rel, b.overwrite):
                log.append(f"kept existing {b.datastore}/{prefix}/{rel} (overwrite=False)")
        log.append(f"uploaded {local} -> {b.datastore}/{b.path_on_datastore}")
