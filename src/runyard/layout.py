"""WorkspaceFolder: the one owner of a workspace's on-disk layout (as a job's paths object owns a job's files).

    <root>/config.json      name, datastores, attached compute targets, environments, snapshot limits
    <root>/runyard.db       the SQLite store (WAL)
    <root>/blobs/           snapshot files by content
    <root>/runs/<run id>/   one folder per run (run_folder.py owns what is inside)
    <root>/datastores/      the default datastore's folder
    <root>/environments/    cached environments
    <root>/models/ <root>/services/   registered models, deployed services

Everything below the service facade (the supervisor, compute targets, the sweep controller, models, data)
takes this object; `runyard.Workspace` is the service's facade over it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from runyard.errors import WorkspaceError
from runyard.run_folder import RunFolder
from runyard.snapshot import BlobStore, SnapshotLimits

if TYPE_CHECKING:
    from runyard.artifacts import ArtifactStore
    from runyard.store.base import Store
    from runyard.store.location import StoreLocation

CONFIG_NAME = "config.json"
DEFAULT_DIR = ".runyard"
DEFAULT_DATASTORE = "workspaceblobstore"
WORKSPACE_ENV = "RUNYARD_WORKSPACE"


def find_workspace_path() -> Path:
    """$RUNYARD_WORKSPACE, else a `.runyard` folder with a config in the cwd or any parent, else ./.runyard."""
    if os.environ.get(WORKSPACE_ENV):
        return Path(os.environ[WORKSPACE_ENV])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_DIR / CONFIG_NAME).exists():
            return folder / DEFAULT_DIR
    return here / DEFAULT_DIR


class ConfiguredWorkspace(Protocol):
    """What compute targets and environments read and write of a workspace: its name and its config sections.
    The facade `Workspace` (what users pass) and the `WorkspaceFolder` (what the supervisor passes) both are one,
    so nothing below the facade needs to import it."""

    @property
    def name(self) -> str: ...

    def config_section(self, section: str) -> dict[str, Any]: ...

    def update_config(self, section: str, key: str, value: Any) -> Any: ...


class WorkspaceFolder:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def database(self) -> Path:
        return self.path / "runyard.db"

    @property
    def runs_root(self) -> Path:
        return self.path / "runs"

    def run_folder(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs_root / run_id)

    @property
    def environments_root(self) -> Path:
        return self.path / "environments"

    @property
    def models_root(self) -> Path:
        return self.path / "models"

    @property
    def services_root(self) -> Path:
        return self.path / "services"

    @property
    def default_datastore_root(self) -> Path:
        return self.path / "datastores" / DEFAULT_DATASTORE

    def exists(self) -> bool:
        return self.config_file.exists()

    def create(self, config: dict[str, Any]) -> None:
        """The folders and a first config (kept if another process wrote one meanwhile)."""
        self.runs_root.mkdir(parents=True, exist_ok=True)
        (self.path / "blobs").mkdir(exist_ok=True)
        self.default_datastore_root.mkdir(parents=True, exist_ok=True)
        with self.config_lock():
            if not self.config_file.exists():
                self.write_config(config)

    # -- the store and the blobs ------------------------------------------------------------------
    def recorded_store(self) -> StoreLocation | None:
        """The store this workspace's config names (written by `runyard server --store` or migrate --record)."""
        from runyard.store.location import parse_store_uri

        recorded = self.read_config().get("store") if self.exists() else None
        return parse_store_uri(recorded, f"{self.config_file}: store") if recorded else None

    @cached_property
    def store_location(self) -> StoreLocation:
        """$RUNYARD_STORE_URI, else the config's `store`, else the SQLite file in this folder. A workspace
        whose config names one store is never opened on another (its runs would seem to vanish)."""
        from runyard.store.location import STORE_ENV, parse_store_uri, sqlite_location

        recorded = self.recorded_store()
        given = os.environ.get(STORE_ENV)
        if given:
            location = parse_store_uri(given, STORE_ENV)
            if recorded and recorded.uri != location.uri:
                raise WorkspaceError(f"{STORE_ENV}={location.shown!r}, but workspace {self.path} keeps its runs in "
                                     f"{recorded.shown!r}; nothing was opened. Fix: unset {STORE_ENV}, or move the "
                                     f"workspace with `runyard migrate --from {recorded.shown} --to "
                                     f"{location.shown} --record`")
            return location
        return recorded or sqlite_location(self.database)

    store_connections = 4  # a PostgreSQL store's pool size in this process (the server takes more)

    @cached_property
    def store(self) -> Store:
        return self.store_location.open(self.store_connections)

    def use_store(self, location: StoreLocation) -> None:
        """Record `location` as this workspace's store (the server's --store), refusing to hide runs
        already kept in another one."""
        current = self.store_location if self.exists() else None
        if current is not None and current.uri == location.uri:
            return
        recorded = self.recorded_store()
        if recorded:
            raise WorkspaceError(f"--store {location.shown}: workspace {self.path} keeps its runs in "
                                 f"{recorded.shown}; nothing was changed. Fix: pass that store, or copy the runs "
                                 f"with `runyard migrate --from {recorded.shown} --to {location.shown} --record`")
        if self.database.exists() and self.database.stat().st_size > 0:
            from runyard.store.location import sqlite_location

            embedded = sqlite_location(self.database).open()
            runs = embedded.count_runs()
            embedded.close()
            if runs:
                raise WorkspaceError(f"--store {location.shown}: workspace {self.path} has {runs} runs in "
                                     f"{self.database}; nothing was changed. Fix: copy them with `runyard migrate "
                                     f"--from sqlite:///{self.database} --to {location.shown}` (which records the "
                                     "new store), or use another workspace folder")
        location.open().close()  # reachable and at this schema before anything is recorded
        with self.config_lock():
            config = self.read_config()
            config["store"] = location.uri
            self.write_config(config)
        self.__dict__.pop("store_location", None)
        self.__dict__.pop("store", None)

    @property
    def artifacts(self) -> ArtifactStore | None:
        """Where run files are mirrored for readers on other hosts: $RUNYARD_ARTIFACTS_URI, else the
        config's `artifacts`, else nowhere (the run folders are the only copy)."""
        from runyard.artifacts import ARTIFACTS_ENV, ArtifactStore

        given = os.environ.get(ARTIFACTS_ENV) or (self.read_config().get("artifacts") if self.exists() else None)
        return ArtifactStore.parse(given, ARTIFACTS_ENV) if given else None

    def use_artifacts(self, artifacts: ArtifactStore) -> None:
        """Record the object store that runs of this workspace mirror their files to (checked writable first)."""
        artifacts.check()
        with self.config_lock():
            config = self.read_config()
            config["artifacts"] = artifacts.uri
            self.write_config(config)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.path / "blobs")

    # -- config (JSON, replaced atomically, changed under a lock) ---------------------------------
    @contextmanager
    def config_lock(self) -> Iterator[None]:
        with open(self.path / ".config.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def read_config(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.config_file.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise WorkspaceError(f"cannot read {self.config_file}: {e}. Fix: repair or remove that file") from e

    def write_config(self, config: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".config-")
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=2)
        os.replace(tmp, self.config_file)

    def update_config(self, section: str, key: str, value: Any) -> dict[str, Any]:
        """Set config[section][key] = value under the lock (None removes it); the new config."""
        with self.config_lock():
            config = self.read_config()
            entries = config.setdefault(section, {})
            if value is None:
                entries.pop(key, None)
            else:
                entries[key] = value
            self.write_config(config)
            return config

    def config_section(self, section: str) -> dict[str, Any]:
        return dict(self.read_config().get(section, {}))

    @property
    def name(self) -> str:
        return str(self.read_config().get("name", "workspace"))

    @property
    def snapshot_limits(self) -> SnapshotLimits:
        cfg = self.read_config().get("snapshot", {})
        base = SnapshotLimits(max_bytes=int(cfg.get("max_mb", 300) * 1024 * 1024),
                              max_files=int(cfg.get("max_files", 2000)))
        return SnapshotLimits.from_env(base)

    def datastore_entries(self) -> dict[str, dict[str, Any]]:
        """name -> {'path': folder} or {'url': ..., 'storage_options': {...}}, the default one included."""
        entries = {DEFAULT_DATASTORE: {"path": str(self.default_datastore_root)}}
        entries.update(self.config_section("datastores"))
        return entries

    def storage_options(self) -> dict[str, dict[str, Any]]:
        """datastore name -> its fsspec options (never credentials)."""
        return {name: dict(entry.get("storage_options") or {}) for name, entry in self.datastore_entries().items()}

    # -- the UI serving this workspace, if any --------------------------------------------------------
    @property
    def serving_file(self) -> Path:
        return self.path / "serving.json"

    def write_serving(self, url: str) -> None:
        self.serving_file.write_text(json.dumps({"url": url, "pid": os.getpid()}))

    def clear_serving(self) -> None:
        self.serving_file.unlink(missing_ok=True)

    def serving_url(self) -> str | None:
        """The address of the `runyard ui` / `runyard server` serving this workspace now, or None."""
        try:
            info = json.loads(self.serving_file.read_text())
            os.kill(int(info["pid"]), 0)  # still there
            return str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def __repr__(self) -> str:
        return f"WorkspaceFolder({str(self.path)!r})"
