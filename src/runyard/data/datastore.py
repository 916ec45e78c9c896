"""Datastore: a named place for data: a folder (the default one lives inside the workspace), or an object
store reached through fsspec (see locations.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.data.progress import transfer
from runyard.errors import InvalidValueError, WorkspaceError
from runyard.locations import Location, check_storage_options, clean_relative, is_url, location
from runyard.spec import DataMode

if TYPE_CHECKING:
    from runyard.data.data_reference import DataReference
    from runyard.workspace import Workspace


_DATASTORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,254}$")


def check_datastore_name(name: Any) -> str:
    """The service's rule (letters, digits, underscores); it also keeps names usable in paths and URLs."""
    if not isinstance(name, str) or not _DATASTORE_NAME.match(name):
        raise InvalidValueError("datastore_name", name, "is not a valid datastore name",
                                "use 1-255 letters, digits or underscores, starting with a letter or digit")
    return name


class Datastore:
    """A folder registered in a workspace. `Datastore(ws, name)` looks a registered one up."""

    def __init__(self, workspace: Workspace, name: str | None = None, root: str | os.PathLike[str] | None = None,
                 storage_options: dict[str, Any] | None = None):
        if root is None:
            stores = workspace.datastores
            name = name or "workspaceblobstore"
            if name not in stores:
                raise WorkspaceError(f"datastore name={name!r}: not registered in this workspace (known: "
                                     f"{', '.join(sorted(stores))}). Fix: use one of those, or "
                                     "Datastore.register_local(ws, name, path)")
            root, storage_options = stores[name].root, stores[name].storage_options
        self.workspace = workspace
        self.name = name or "workspaceblobstore"
        self.root: Path | str = str(root) if is_url(str(root)) else Path(root).resolve()
        self.storage_options = dict(storage_options or {})
        self.datastore_type = "Url" if isinstance(self.root, str) else "LocalFolder"

    @cached_property
    def location(self) -> Location:
        """Built on first use: listing a workspace's datastores never needs their fsspec backends."""
        if self.workspace is None:  # a bare folder (a tabular input's local copy, inside a script)
            return location(str(self.root), self.storage_options)
        return self.workspace.backend.datastore_location(self.name, str(self.root), self.storage_options)

    # -- registry -------------------------------------------------------------------------------
    @classmethod
    def get(cls, workspace: Workspace, datastore_name: str) -> Datastore:
        return cls(workspace, datastore_name)

    @classmethod
    def get_default(cls, workspace: Workspace) -> Datastore:
        return workspace.get_default_datastore()

    @classmethod
    def register_local(cls, workspace: Workspace, datastore_name: str, path: str | os.PathLike[str]) -> Datastore:
        """runyard's own kind: an existing folder (a shared filesystem path on a cluster)."""
        check_datastore_name(datastore_name)
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise InvalidValueError("path", str(path), "is not an existing folder", "create the folder first")
        workspace.update_config("datastores", datastore_name, {"path": str(root)})
        return cls(workspace, datastore_name, root)

    @classmethod
    def register_url(cls, workspace: Workspace, datastore_name: str, url: str,
                     storage_options: dict[str, Any] | None = None) -> Datastore:
        """runyard's own kind: an object store or remote filesystem fsspec reaches (`s3://bucket/prefix`,
        `gs://...`, `abfs://...`). Credentials come from the environment; storage_options holds the rest."""
        check_datastore_name(datastore_name)
        if not isinstance(url, str) or not is_url(url):
            raise InvalidValueError("url", url, "is not a URL with a scheme", "pass e.g. 's3://bucket/prefix'")
        options = check_storage_options(storage_options)
        store = cls(workspace, datastore_name, url, options)
        store.location  # noqa: B018 - fails here, before anything is written, if the backend is missing
        workspace.update_config("datastores", datastore_name, {"url": url, "storage_options": options})
        return store

    @classmethod
    def register_azure_blob_container(cls, workspace: Workspace, datastore_name: str, container_name: str,
                                      account_name: str, **_: Any) -> Datastore:
        """The service's blob container, through fsspec's adlfs (credentials from AZURE_STORAGE_* variables)."""
        return cls.register_url(workspace, datastore_name, f"abfs://{container_name}",
                                {"account_name": account_name})

    # -- moving data ----------------------------------------------------------------------------
    def upload(self, src_dir: str | os.PathLike[str], target_path: str | None = None, overwrite: bool = False,
               show_progress: bool = True) -> DataReference:
        return self._put(folder_files(src_dir), target_path, overwrite, show_progress)

    def upload_files(self, files: Iterable[str | os.PathLike[str]], relative_root: str | None = None,
                     target_path: str | None = None, overwrite: bool = False,
                     show_progress: bool = True) -> DataReference:
        return self._put(named_files(files, relative_root), target_path, overwrite, show_progress)

    def _put(self, files: list[tuple[Path, str]], target_path: str | None, overwrite: bool,
             show_progress: bool) -> DataReference:
        dest = clean_relative(target_path, "target_path")
        copied = 0
        with transfer("uploading", len(files), sum(local.stat().st_size for local, _ in files), show_progress) as bar:
            for local, rel in files:
                copied += self._put_file(local, _join(dest, rel), overwrite)
                bar.advance(local.stat().st_size)
        if show_progress:
            print(f"Uploaded {copied} of {len(files)} files to datastore {self.name}"
                  f"{'/' + target_path if target_path else ''}"
                  f"{' (existing files kept; pass overwrite=True to replace them)' if copied < len(files) else ''}")
        return self.path(target_path)

    def _put_file(self, local: Path, rel: str, overwrite: bool) -> bool:
        return self.location.put(local, rel, overwrite)

    def download(self, target_path: str | os.PathLike[str], prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        # a blob-store prefix is a string prefix of the path: 'result' takes result.txt and results/...
        wanted = clean_relative(prefix, "prefix")
        dest = Path(target_path)
        files = self.location.files(wanted)
        copied = 0
        with transfer("downloading", len(files), None, show_progress) as bar:  # sizes known once fetched
            for rel in files:
                if (dest / rel).exists() and not overwrite:
                    continue
                self.location.get(rel, dest / rel)
                copied += 1
                bar.advance((dest / rel).stat().st_size)
        if show_progress:
            print(f"Downloaded {copied} of {len(files)} files from datastore {self.name}")
        return copied

    # -- references -----------------------------------------------------------------------------
    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        from runyard.data.data_reference import DataReference

        return DataReference(self, data_reference_name=data_reference_name, path_on_datastore=path)

    def _whole(self, mode: DataMode, path_on_compute: str | None = None) -> DataReference:
        from runyard.data.data_reference import DataReference

        return DataReference(self, mode=mode.value, path_on_compute=path_on_compute)

    def as_mount(self) -> DataReference:
        return self._whole(DataMode.MOUNT)

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return self._whole(DataMode.DOWNLOAD, path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        return self._whole(DataMode.UPLOAD, path_on_compute)

    def __str__(self) -> str:  # a bare datastore in script_params is a mount of the whole store
        return self.as_mount().__str__()

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.datastore_type, "root": str(self.root),
                "storageOptions": self.storage_options}

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, root={str(self.root)!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Datastore) and (other.name, other.root) == (self.name, self.root)

    def __hash__(self) -> int:
        return hash((self.name, self.root))


def folder_files(src_dir: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """(file, path relative to src_dir) for every file under an existing folder."""
    src = Path(src_dir)
    if not src.is_dir():
        raise InvalidValueError("src_dir", str(src_dir), "is not an existing folder",
                                "pass a folder, or use upload_files() for single files")
    return [(p, p.relative_to(src).as_posix()) for p in sorted(src.rglob("*")) if p.is_file()]


def named_files(files: Iterable[str | os.PathLike[str]], relative_root: str | None) -> list[tuple[Path, str]]:
    """(file, name in the datastore): relative to relative_root, else the file's own name."""
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise InvalidValueError("files", str(p), "is not an existing file", "pass paths of existing files")
    base = Path(relative_root).resolve() if relative_root else None
    return [(p, p.resolve().relative_to(base).as_posix() if base else p.name) for p in paths]


def _join(folder: str, rel: str) -> str:
    return f"{folder}/{rel}" if folder else rel
