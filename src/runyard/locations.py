"""Where a datastore's files live: a local folder, or an object store / remote filesystem reached
through fsspec (`s3://bucket/prefix`, `gs://...`, `abfs://...`, ...). Datastores and the supervisor's data
bindings move files only through this, so both kinds behave the same.

Credentials are never stored: fsspec's backends read them from the environment as usual (AWS_*,
GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*); `storage_options` carries what is not secret
(endpoint_url, region...)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from runyard.errors import InvalidValueError, WorkspaceError
from runyard.install_hint import install_extra

SECRET_OPTIONS = ("key", "secret", "token", "password", "account_key", "sas_token", "credential")


def is_url(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


def clean_relative(relative: str | None, field: str) -> str:
    """A path inside the store, '/'-separated, without '..' or a leading '/'."""
    parts = [p for p in str(relative or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts or (relative and os.path.isabs(str(relative))):
        raise InvalidValueError(field, relative, "points outside the datastore",
                                "use a path relative to the datastore root, without '..'")
    return "/".join(parts)


class LocalLocation:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(str(root).removeprefix("file://")).resolve()

    def local_path(self, rel: str) -> Path:
        """The path of `rel` in the folder; refused when a symlink on the way leads out of it."""
        path = self.root / clean_relative(rel, "path") if rel else self.root
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise InvalidValueError("path", rel, f"leads out of the datastore folder {self.root} (through a symlink)",
                                    "use a path whose folders are inside the datastore")
        return path

    def exists(self, rel: str) -> bool:
        return self.local_path(rel).exists()

    def files(self, prefix: str = "") -> list[str]:
        """Every file whose path starts with `prefix` (a string prefix, as in a blob store); files behind a
        symlink that leads out of the folder are not the datastore's."""
        found = []
        for p in self.root.rglob("*"):
            rel = p.relative_to(self.root).as_posix()
            if rel.startswith(prefix) and p.is_file() and self.root in p.resolve().parents:
                found.append(rel)
        return sorted(found)

    def get(self, rel: str, dest: Path) -> None:
        source = self.local_path(rel)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)

    def put(self, source: Path, rel: str, overwrite: bool) -> bool:
        dest = self.local_path(rel)
        if dest.exists() and not overwrite:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.incoming-{os.getpid()}")
        shutil.copy2(source, tmp)
        os.replace(tmp, dest)  # readers never see half a file
        return True


class FsspecLocation:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError:
            raise WorkspaceError(f"datastore url={url!r} needs fsspec. Fix: pip install fsspec and the backend "
                                 "for its scheme (s3fs, gcsfs, adlfs)") from None
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url.rstrip("/"), **(storage_options or {}))
        except (ImportError, ValueError) as e:
            raise WorkspaceError(f"datastore url={url!r}: {e}. Fix: install the fsspec backend for its scheme: "
                                 f"{install_extra('s3')} for s3://, or gcsfs for gs://, adlfs for abfs://") from None
        self.url = url

    def local_path(self, rel: str) -> Path | None:
        return None  # nothing to mount: a mount becomes a download

    def _path(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._path(rel)))

    def files(self, prefix: str = "") -> list[str]:
        found = self.fs.find(self.base) if self.fs.exists(self.base) else []
        start = len(self.base.rstrip("/")) + 1
        return sorted(rel for rel in (f[start:] for f in found) if rel.startswith(prefix))

    def get(self, rel: str, dest: Path) -> None:
        source = self._path(rel)
        if self.fs.isdir(source):
            for name in self.files(rel.rstrip("/") + "/" if rel else ""):
                target = dest / name[len(rel):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._path(name), str(target))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(source, str(dest))

    def put(self, source: Path, rel: str, overwrite: bool) -> bool:
        if not overwrite and self.fs.exists(self._path(rel)):
            return False
        self.fs.put_file(str(source), self._path(rel))
        return True


Location = LocalLocation | FsspecLocation


def location(root: str, storage_options: dict[str, Any] | None = None) -> Location:
    return FsspecLocation(root, storage_options) if is_url(root) else LocalLocation(root)


def check_storage_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidValueError("storage_options", options, "must be a dict", "pass {'endpoint_url': '...'}")
    secret = sorted(k for k in options if any(word in str(k).lower() for word in SECRET_OPTIONS))
    if secret:
        raise InvalidValueError("storage_options", secret[0], "would store a credential in the workspace config",
                                "leave credentials to the environment (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_"
                                "CREDENTIALS, AZURE_STORAGE_KEY...), as fsspec's backends read them")
    return dict(options)
