"""Model registration: versioned copies of model files in the workspace (the service's `Model`).

    <workspace>/models/<name>/<version>/   the registered files
    <workspace>/models/<name>/versions.json   version -> tags, properties, description, source run
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError, WorkspaceError

if TYPE_CHECKING:
    from runyard.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MODEL_DIR_ENV = "AZUREML_MODEL_DIR"


def _root(workspace: Workspace, name: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidValueError("model_name", name, "is not a valid model name",
                                "use letters, digits, '_', '-' or '.', starting with a letter or digit")
    return workspace.path / "models" / name


def _copy_in(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target / source.name)
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)


class Framework:
    """`Model.Framework.*`: recorded with the model, as the service's model_framework was."""

    CUSTOM = "Custom"
    PYTORCH = "PyTorch"
    SCIKITLEARN = "ScikitLearn"
    TENSORFLOW = "TensorFlow"
    ONNX = "Onnx"


@contextmanager
def _versions_locked(root: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """versions.json under the model's lock; what the block leaves in the dict is written back atomically."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        versions = _read(root)
        yield versions
        tmp = root / "versions.json.tmp"
        tmp.write_text(json.dumps(versions, indent=1))
        os.replace(tmp, root / "versions.json")


class Model:
    """`Model(ws, name, version=None)` is a registered model (the latest version by default)."""

    Framework = Framework

    def __init__(self, workspace: Workspace, name: str | None = None, id: str | None = None,
                 version: int | None = None, tags: Any = None, properties: Any = None, **_: Any) -> None:
        if name is None and id:
            name, _, v = id.partition(":")
            version = int(v) if v else version
        root = _root(workspace, name or "")
        versions = _read(root)
        if not versions:
            raise WorkspaceError(f"model_name={name!r}: no model of that name in workspace {workspace.name!r}. "
                                 "Fix: register it first (Model.register or run.register_model)")
        chosen = str(version) if version is not None else max(versions, key=int)
        if chosen not in versions:
            raise InvalidValueError("version", version, f"does not exist (versions: {', '.join(sorted(versions))})",
                                    "pass an existing version or None for the latest")
        meta = versions[chosen]
        self.workspace, self.name, self.version = workspace, name, int(chosen)
        self.id = f"{name}:{chosen}"
        self.tags: dict[str, str] = meta.get("tags", {})
        self.properties: dict[str, str] = meta.get("properties", {})
        self.description: str | None = meta.get("description")
        self.run_id: str | None = meta.get("run_id")
        self.created_time: float = meta.get("created", 0.0)
        self.model_framework: str | None = meta.get("framework")
        self.model_framework_version: str | None = meta.get("framework_version")
        self.path = root / chosen
        # where the registered files are (the service gave an aml:// asset address; here, a file:// one)
        self.url = self.path.resolve().as_uri()

    @staticmethod
    def register(workspace: Workspace, model_path: str | os.PathLike[str], model_name: str,
                 tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
                 description: str | None = None, model_framework: str | None = None,
                 model_framework_version: str | None = None, _run_id: str | None = None, **_: Any) -> Model:
        source = Path(model_path)
        if not source.exists():
            raise InvalidValueError("model_path", str(model_path), "does not exist",
                                    "pass the path of a model file or folder")
        root = _root(workspace, model_name)
        tag_strings, property_strings = _strings("tags", tags), _strings("properties", properties)
        if description is not None and not isinstance(description, str):
            raise InvalidValueError("description", description, "must be a string", "pass description='...'")
        # -- validated: from here on, things are written --
        with _versions_locked(root) as versions:
            version = str(max((int(v) for v in versions), default=0) + 1)
            staging = root / f".incoming-{version}"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                _copy_in(source, staging)
                os.replace(staging, root / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # a failed register leaves nothing behind
                raise
            versions[version] = {"tags": tag_strings, "properties": property_strings,
                                 "description": description, "run_id": _run_id, "created": time.time(),
                                 "file": source.name, "framework": model_framework,
                                 "framework_version": model_framework_version}
        return Model(workspace, model_name, version=int(version))

    # -- changing a version -------------------------------------------------------------------------
    def add_tags(self, tags: dict[str, Any]) -> None:
        self._update(lambda meta: meta.setdefault("tags", {}).update(_strings("tags", tags)))
        self.tags.update(_strings("tags", tags))

    def remove_tags(self, tags: list[str] | str) -> None:
        keys = [tags] if isinstance(tags, str) else list(tags)
        self._update(lambda meta: [meta.setdefault("tags", {}).pop(k, None) for k in keys])
        for key in keys:
            self.tags.pop(key, None)

    def add_properties(self, properties: dict[str, Any]) -> None:
        self._update(lambda meta: meta.setdefault("properties", {}).update(_strings("properties", properties)))
        self.properties.update(_strings("properties", properties))

    def _update(self, change: Any) -> None:
        with _versions_locked(_root(self.workspace, self.name)) as versions:
            change(versions[str(self.version)])

    def delete(self) -> None:
        """Remove this version (its files and its entry); the other versions stay."""
        root = _root(self.workspace, self.name)
        with _versions_locked(root) as versions:
            versions.pop(str(self.version), None)
            shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def list(workspace: Workspace, name: str | None = None, **_: Any) -> list[Model]:
        base = workspace.path / "models"
        names = [name] if name else sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        return [Model(workspace, n, version=int(v)) for n in names for v in sorted(_read(base / n), key=int)]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Workspace | None = None) -> str:
        """Inside a scoring script (AZUREML_MODEL_DIR set) or with a workspace: the model's file path."""
        model_dir = os.environ.get(MODEL_DIR_ENV)
        if _workspace is None and model_dir:
            return str(_deployed_model_path(Path(model_dir), model_name, version))
        from runyard.layout import WorkspaceFolder, find_workspace_path

        model = Model(_workspace or WorkspaceFolder(find_workspace_path()), model_name, version=version)
        return str(model.file_path)

    @staticmethod
    def deploy(workspace: Workspace, name: str, models: list[Model], inference_config: Any = None,
               deployment_config: Any = None, overwrite: bool = False, **_: Any) -> Any:
        """A local web service answering POST /score with the entry script's run(raw)."""
        from runyard.models.deployment import deploy

        return deploy(workspace, name, models, inference_config, deployment_config, overwrite)

    @property
    def file_path(self) -> Path:
        return _single_entry(self.path)

    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False, **_: Any) -> str:
        target = Path(target_dir) / self.file_path.name
        if target.exists() and not exist_ok:
            raise InvalidValueError("target_dir", str(target_dir), f"already holds {target.name}",
                                    "pass exist_ok=True to overwrite, or another folder")
        if self.file_path.is_dir():
            shutil.copytree(self.file_path, target, dirs_exist_ok=True)
        else:
            Path(target_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.file_path, target)
        return str(target)

    def serialize(self) -> dict[str, Any]:
        """What the CLI and the server show of a model version."""
        return {"name": self.name, "version": self.version, "id": self.id, "runId": self.run_id,
                "tags": self.tags, "properties": self.properties, "description": self.description,
                "createdTime": self.created_time, "file": self.file_path.name,
                "framework": self.model_framework, "frameworkVersion": self.model_framework_version}

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, version={self.version})"


def _strings(field: str, values: dict[str, Any] | None) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidValueError(field, values, "must be a dict", f"pass {field}={{'key': 'value'}}")
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


def _single_entry(folder: Path) -> Path:
    entries = list(folder.iterdir()) if folder.is_dir() else []
    return entries[0] if len(entries) == 1 else folder


def _deployed_model_path(model_dir: Path, name: str, version: int | None) -> Path:
    """Inside a deployment: one model -> AZUREML_MODEL_DIR is <name>/<version>/; several -> the folder
    holding <name>/<version>/ for each. Returns the registered file (or folder) as the service did."""
    if (model_dir / name).exists() and not (model_dir / name).is_dir():
        return model_dir / name  # a file name inside the model folder
    versions_dir = model_dir / name if (model_dir / name).is_dir() else model_dir.parent
    if versions_dir.name != name:
        raise WorkspaceError(f"model_name={name!r}: not deployed with this service (model folder {model_dir}). "
                             "Fix: pass one of the models given to Model.deploy")
    versions = sorted((p for p in versions_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    chosen = versions_dir / str(version) if version is not None else (versions[-1] if versions else model_dir)
    if not chosen.is_dir():
        raise InvalidValueError("version", version, f"was not deployed (deployed: {[p.name for p in versions]})",
                                "pass a deployed version or None")
    return _single_entry(chosen)


def _read(root: Path) -> dict[str, dict[str, Any]]:
    try:
        return dict(json.loads((root / "versions.json").read_text()))
    except (OSError, ValueError):
        return {}
