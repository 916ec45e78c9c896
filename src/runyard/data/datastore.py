"""Datastore: a named folder for data. The default one lives inside the workspace."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError, WorkspaceError
from runyard.spec import DataMode

if TYPE_CHECKING:
    from runyard.data.data_reference import DataReference
    from runyard.workspace import Workspace


def _copy(src: Path, dest: Path, overwrite: bool) -> bool:
    if dest.exists() and not overwrite:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.incoming-{os.getpid()}")
    shutil.copy2(src, tmp)
    os.replace(tmp, dest)
    return True


def _inside(root: Path, relative: str | None, field: str) -> Path:
    target = (root / (relative or "")).resolve()
    if target != root and root not in target.parents:
        raise InvalidValueError(field, relative, "points outside the datastore",
                                "use a path relative to the datastore root, without '..'")
    return target


class Datastore:
    """A folder registered in a workspace. `Datastore(ws, name)` looks a registered one up."""

    datastore_type = "LocalFolder"

    def __init__(self, workspace: Workspace, name: str | None = None, root: str | os.PathLike[str] | None = None):
        if root is None:
            stores = workspace.datastores
            name = name or "workspaceblobstore"
            if name not in stores:
                raise WorkspaceError(f"datastore name={name!r}: not registered in this workspace (known: "
                                     f"{', '.join(sorted(stores))}). Fix: use one of those, or "
                                     "Datastore.register_local(ws, name, path)")
            root = stores[name].root
        self.workspace = workspace
        self.name = name or "workspaceblobstore"
        self.root = Path(root).resolve()

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
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise InvalidValueError("path", str(path), "is not an existing folder", "create the folder first")
        workspace.update_config("datastores", datastore_name, {"path": str(root)})
        return cls(workspace, datastore_name, root)

    # -- moving data ----------------------------------------------------------------------------
    def upload(self, src_dir: str | os.PathLike[str], target_path: str | None = None, overwrite: bool = False,
               show_progress: bool = True) -> DataReference:
        src = Path(src_dir)
        if not src.is_dir():
            raise InvalidValueError("src_dir", str(src_dir), "is not an existing folder",
                                    "pass a folder, or use upload_files() for single files")
        dest = _inside(self.root, target_path, "target_path")
        files = [p for p in sorted(src.rglob("*")) if p.is_file()]
        copied = sum(_copy(p, dest / p.relative_to(src), overwrite) for p in files)
        if show_progress:
            print(f"Uploaded {copied} of {len(files)} files to datastore {self.name}"
                  f"{'/' + target_path if target_path else ''}"
                  f"{' (existing files kept; pass overwrite=True to replace them)' if copied < len(files) else ''}")
        return self.path(target_path)

    def upload_files(self, files: Iterable[str | os.PathLike[str]], relative_root: str | None = None,
                     target_path: str | None = None, overwrite: bool = False,
                     show_progress: bool = True) -> DataReference:
        dest = _inside(self.root, target_path, "target_path")
        paths = [Path(f) for f in files]
        for p in paths:
            if not p.is_file():
                raise InvalidValueError("files", str(p), "is not an existing file", "pass paths of existing files")
        base = Path(relative_root).resolve() if relative_root else None
        copied = 0
        for p in paths:
            rel = p.resolve().relative_to(base) if base else Path(p.name)
            copied += _copy(p, dest / rel, overwrite)
        if show_progress:
            print(f"Uploaded {copied} of {len(paths)} files to datastore {self.name}")
        return self.path(target_path)

    def download(self, target_path: str | os.PathLike[str], prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        _inside(self.root, prefix, "prefix")  # refuses a prefix that leaves the datastore
        dest = Path(target_path)
        # a blob-store prefix is a string prefix of the path: 'result' takes result.txt and results/...
        wanted = (prefix or "").strip("/")
        files = [p for p in sorted(self.root.rglob("*"))
                 if p.is_file() and p.relative_to(self.root).as_posix().startswith(wanted)]
        copied = sum(_copy(p, dest / p.relative_to(self.root), overwrite) for p in files)
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

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, root={str(self.root)!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Datastore) and (other.name, other.root) == (self.name, self.root)

    def __hash__(self) -> int:
        return hash((self.name, self.root))
