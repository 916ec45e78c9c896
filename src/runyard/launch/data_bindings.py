"""Resolving data references to local paths on the node (before the script) and uploading (after)."""

from __future__ import annotations

import shutil
from pathlib import Path

from runyard.errors import InvalidValueError
from runyard.spec import DataBinding, DataMode


def _source(binding: DataBinding) -> Path:
    return Path(binding.datastore_root) / binding.path_on_datastore


def _local(binding: DataBinding, working_dir: Path) -> Path:
    rel = binding.path_on_compute or binding.path_on_datastore or binding.name
    target = (working_dir / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    return target


def resolve_inputs(bindings: tuple[DataBinding, ...], working_dir: Path, log: list[str]) -> dict[str, str]:
    """Returns {AZUREML_DATAREFERENCE_<name>: local path}; downloads happen here."""
    env: dict[str, str] = {}
    for b in bindings:
        if b.mode is DataMode.MOUNT:
            path = _source(b)
            if not path.exists():
                raise InvalidValueError(f"data reference {b.name}", str(path), "does not exist in datastore "
                                        f"{b.datastore}", "upload the data first (ds.upload(...)) or fix the path")
            log.append(f"mount {b.datastore}/{b.path_on_datastore} -> {path}")
        elif b.mode is DataMode.DOWNLOAD:
            source, path = _source(b), _local(b, working_dir)
            if not source.exists():
                raise InvalidValueError(f"data reference {b.name}", str(source), "does not exist in datastore "
                                        f"{b.datastore}", "upload the data first (ds.upload(...)) or fix the path")
            if source.is_dir():
                shutil.copytree(source, path, dirs_exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, path)
            log.append(f"download {b.datastore}/{b.path_on_datastore} -> {path}")
        else:
            path = _local(b, working_dir)
            path.mkdir(parents=True, exist_ok=True)
            log.append(f"upload {path} -> {b.datastore}/{b.path_on_datastore} (after the run)")
        env[b.env_var] = str(path)
    return env


def upload_outputs(bindings: tuple[DataBinding, ...], working_dir: Path, log: list[str]) -> None:
    for b in bindings:
        if b.mode is not DataMode.UPLOAD:
            continue
        local, target = _local(b, working_dir), _source(b)
        if not local.exists():
            continue
        for f in sorted(p for p in local.rglob("*") if p.is_file()):
            dest = target / f.relative_to(local)
            if dest.exists() and not b.overwrite:
                log.append(f"kept existing {dest} (overwrite=False)")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        log.append(f"uploaded {local} -> {b.datastore}/{b.path_on_datastore}")
