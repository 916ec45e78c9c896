"""Datasets (the service's later `azureml.core.Dataset`): named, versioned references to files in a datastore.

    Dataset.File.from_files(path=(datastore, 'mnist/'))           -> FileDataset
    Dataset.Tabular.from_delimited_files(path=(datastore, 'iris.csv')) -> TabularDataset
    dataset.register(ws, 'mnist'); Dataset.get_by_name(ws, 'mnist', version='latest')
    ScriptRunConfig(arguments=['--data', dataset.as_named_input('mnist').as_mount()])
    in the script: Run.get_context().input_datasets['mnist'] -> the local path (a TabularDataset for tabular)

A dataset here names one path in one datastore (a folder or a file); the compute resolves it like a
DataReference, so it travels to every target the same way.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.data.data_reference import DataReference
from runyard.errors import InvalidTypeError, InvalidValueError, WorkspaceError
from runyard.install_hint import install_extra
from runyard.locations import clean_relative
from runyard.spec import DataMode

if TYPE_CHECKING:
    from runyard.data.datastore import Datastore
    from runyard.workspace import Workspace

_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _source(path: Any) -> tuple[Datastore, str]:
    """(datastore, 'relative/path') from the forms the service took: a tuple, a list of one, a DataPath."""
    from runyard.data.datastore import Datastore

    if isinstance(path, list) and len(path) == 1:
        path = path[0]
    if isinstance(path, DataReference):
        return path.datastore, path.path_on_datastore or ""
    if isinstance(path, tuple) and len(path) == 2 and isinstance(path[0], Datastore):
        return path[0], clean_relative(path[1], "path")
    if isinstance(path, list):
        raise InvalidValueError("path", path, "names several paths; a dataset here is one folder or file",
                                "put the files under one folder of a datastore and pass (datastore, 'folder')")
    raise InvalidTypeError("path", path, "is not a datastore path", "pass (datastore, 'relative/path'), e.g. "
                           "(ws.get_default_datastore(), 'mnist/'); upload local files with datastore.upload first")


class _Dataset:
    kind = "files"

    def __init__(self, datastore: Datastore, path: str, options: dict[str, Any] | None = None,
                 name: str | None = None, version: int | None = None, description: str | None = None,
                 tags: dict[str, str] | None = None) -> None:
        self.datastore, self.path, self.options = datastore, path, dict(options or {})
        self.name, self.version, self.description, self.tags = name, version, description, dict(tags or {})

    @property
    def id(self) -> str | None:
        return f"{self.name}:{self.version}" if self.name else None

    def _definition(self) -> dict[str, Any]:
        return {"kind": self.kind, "datastore": self.datastore.name, "path": self.path, "options": self.options}

    def register(self, workspace: Workspace, name: str, description: str | None = None,
                 tags: dict[str, Any] | None = None, create_new_version: bool = False) -> _Dataset:
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError("name", name, "must be a non-empty string", "pass name='mnist'")
        versions = list(workspace.config_section("datasets").get(name, []))
        definition = self._definition()
        if versions and not create_new_version and versions[-1]["definition"] != definition:
            raise InvalidValueError("name", name, "is already registered with another definition",
                                    "pass create_new_version=True, or another name")
        if not versions or versions[-1]["definition"] != definition:
            versions.append({"definition": definition, "description": description,
                             "tags": {str(k): str(v) for k, v in (tags or {}).items()}})
            workspace.update_config("datasets", name, versions)
        return _from_entry(workspace, name, len(versions), versions[-1])

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DataReference:
        return self.as_named_input(_default_input_name(self)).as_mount(path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self.as_named_input(_default_input_name(self)).as_download(path_on_compute)

    def _members(self) -> list[tuple[str, str]]:
        """(path in the datastore, path relative to the dataset) of each file: a folder's files, or the file."""
        folder = self.path.rstrip("/")
        found = []
        for rel in self.datastore.location.files(folder):
            if rel == folder:
                found.append((rel, Path(rel).name))
            elif not folder or rel.startswith(folder + "/"):
                found.append((rel, rel[len(folder):].lstrip("/")))
        return found

    def to_path(self) -> list[str]:
        """The dataset's files, relative to it, each with a leading '/' as the service listed them."""
        return ["/" + name for _, name in self._members()]

    def download(self, target_path: str | None = None, overwrite: bool = False) -> list[str]:
        target = Path(target_path or ".")
        out = []
        for rel, name in self._members():
            dest = target / name
            if overwrite or not dest.exists():
                self.datastore.location.get(rel, dest)
            out.append(str(dest))
        return out

    def serialize(self) -> dict[str, Any]:
        """What the CLI and the server show of a registered dataset."""
        return {"name": self.name, "version": self.version, "kind": self.kind, "datastore": self.datastore.name,
                "path": self.path, "description": self.description, "tags": self.tags}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(datastore={self.datastore.name!r}, path={self.path!r}, name={self.name!r})"


class FileDataset(_Dataset):
    kind = "files"


class TabularDataset(_Dataset):
    kind = "tabular"

    def to_pandas_dataframe(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise WorkspaceError("to_pandas_dataframe needs pandas, which is not installed here. "
                                 "Fix: " + install_extra("tabular")) from None

        local = self.datastore.location.local_path(self.path)
        if local is None:  # an object store: read through fsspec
            local = f"{self.datastore.root}/{self.path}"
        kwargs = {"sep": self.options.get("separator", ","), "header": 0 if self.options.get("header", True) else None}
        folder = Path(local) if not isinstance(local, str) else None
        if folder is not None and folder.is_dir():
            return pd.concat([pd.read_csv(f, **kwargs) for f in sorted(folder.rglob("*")) if f.is_file()],
                             ignore_index=True)
        storage = self.datastore.storage_options if isinstance(local, str) else None
        return pd.read_csv(local, storage_options=storage or None, **kwargs)


class DatasetConsumptionConfig:
    """`dataset.as_named_input(name)`, then `.as_mount()` / `.as_download()`: how a run sees the dataset."""

    def __init__(self, name: str, dataset: _Dataset, mode: DataMode = DataMode.MOUNT,
                 path_on_compute: str | None = None) -> None:
        if not isinstance(name, str) or not _INPUT_NAME.match(name):
            raise InvalidValueError("name", name, "is not usable as an input name",
                                    "use letters, digits and underscores, not starting with a digit")
        self.name, self.dataset, self.mode, self.path_on_compute = name, dataset, mode, path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DataReference:
        return self._reference(DataMode.MOUNT, path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self._reference(DataMode.DOWNLOAD, path_on_compute)

    def to_data_reference(self) -> DataReference:
        # tabular data in "direct" mode: the script gets a TabularDataset over a downloaded copy
        mode = DataMode.DOWNLOAD if isinstance(self.dataset, TabularDataset) else self.mode
        return self._reference(mode, self.path_on_compute)

    def _reference(self, mode: DataMode, path_on_compute: str | None) -> DataReference:
        ds = self.dataset
        dataset = json.dumps({"kind": ds.kind, "options": ds.options}) if isinstance(ds, TabularDataset) else ""
        return DataReference(ds.datastore, self.name, ds.path or None, mode.value, path_on_compute, _dataset=dataset)


def _default_input_name(dataset: _Dataset) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"input_{dataset.name or dataset.datastore.name}")


class _FileFactory:
    @staticmethod
    def from_files(path: Any, validate: bool = True, **_: Any) -> FileDataset:
        datastore, rel = _source(path)
        if validate and not datastore.location.exists(rel):
            raise InvalidValueError("path", f"{datastore.name}/{rel}", "does not exist in the datastore",
                                    "upload it first (datastore.upload(...)) or pass validate=False")
        return FileDataset(datastore, rel)


    @staticmethod
    def upload_directory(src_dir: str | os.PathLike[str], target: Any, pattern: str | None = None,
                         overwrite: bool = False, show_progress: bool = True) -> FileDataset:
        """Upload a local folder to (datastore, path) and return a FileDataset over it (the later SDK's
        Dataset.File.upload_directory); `pattern` keeps only the files whose name matches it (glob)."""
        from runyard.data.datastore import folder_files

        datastore, rel = _source(target)
        files = folder_files(src_dir)
        if pattern is not None:
            files = [(local, name) for local, name in files if fnmatch.fnmatch(name, pattern)
                     or fnmatch.fnmatch(local.name, pattern)]
        datastore._put(files, rel, overwrite, show_progress)
        return FileDataset(datastore, rel)


class _TabularFactory:
    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, separator: str = ",", header: Any = True,
                             **_: Any) -> TabularDataset:
        datastore, rel = _source(path)
        if validate and not datastore.location.exists(rel):
            raise InvalidValueError("path", f"{datastore.name}/{rel}", "does not exist in the datastore",
                                    "upload it first (datastore.upload(...)) or pass validate=False")
        return TabularDataset(datastore, rel, {"separator": separator, "header": bool(header)})


class Dataset:
    """`Dataset.File`, `Dataset.Tabular`, `Dataset.get_by_name(ws, name, version='latest')`."""

    File = _FileFactory
    Tabular = _TabularFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> _Dataset:
        versions = workspace.config_section("datasets").get(name)
        if not versions:
            raise WorkspaceError(f"dataset name={name!r}: not registered in workspace {workspace.name!r}. "
                                 "Fix: dataset.register(ws, name) first")
        index = len(versions) if version in ("latest", None) else int(version)
        if not 1 <= index <= len(versions):
            raise InvalidValueError("version", version, f"does not exist (1 to {len(versions)})",
                                    "pass an existing version or 'latest'")
        return _from_entry(workspace, name, index, versions[index - 1])

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, _Dataset]:
        """Every registered dataset by name, at its latest version."""
        return {name: Dataset.get_by_name(workspace, name) for name in sorted(workspace.config_section("datasets"))}


def _from_entry(workspace: Workspace, name: str, version: int, entry: dict[str, Any]) -> _Dataset:
    definition = entry["definition"]
    cls = TabularDataset if definition["kind"] == "tabular" else FileDataset
    return cls(workspace.datastores[definition["datastore"]], definition["path"], definition["options"], name,
               version, entry.get("description"), entry.get("tags"))


def local_dataset(path: str, definition: str) -> Any:
    """In the script: what run.input_datasets gives for a tabular input, over its local copy."""
    from runyard.data.datastore import Datastore

    spec = json.loads(definition)
    here = Path(path)
    return TabularDataset(Datastore(None, "local", here.parent), here.name, spec.get("options"))  # type: ignore[arg-type]
