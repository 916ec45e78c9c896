"""Workspace: the service's facade over a workspace folder (layout.py owns its layout, config and store).

`Workspace.from_config()` finds it (a `.runyard` folder upward from here, $RUNYARD_WORKSPACE, or the
folder beside a service config.json); its datastores, compute targets, experiments, models and services
are the service's objects over that folder."""

from __future__ import annotations

import json
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError, WorkspaceError
from runyard.layout import (CONFIG_NAME, DEFAULT_DATASTORE, DEFAULT_DIR, WORKSPACE_ENV, WorkspaceFolder,
                            find_workspace_path)
from runyard.snapshot import BlobStore, SnapshotLimits

if TYPE_CHECKING:
    from runyard.backends.base import RunBackend
    from runyard.data.datastore import Datastore
    from runyard.experiment import Experiment
    from runyard.run import Run
    from runyard.store.base import Store

LOCAL = "local"
IDENTITY_FIELDS = ("subscription_id", "resource_group", "location")
SERVICE_ARGUMENTS = {"subscription_id", "resource_group", "workspace_name", "auth", "location", "_location",
                     "create_resource_group", "friendly_name", "sku", "show_output", "_disable_service_check"}


def _identity_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k in SERVICE_ARGUMENTS}


def service_config(file: Path) -> dict[str, str] | None:
    """The service's own config.json ({subscription_id, resource_group, workspace_name}), or None.
    runyard never writes into it: it names the workspace that runyard keeps beside it in .runyard/."""
    try:
        data = json.loads(file.read_text()) if file.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "version" in data or not {"workspace_name", "subscription_id"} & set(data):
        return None
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int))}


def _service_config_upward(start: Path) -> tuple[Path, dict[str, str]] | None:
    for folder in (start, *start.parents):
        for file in (folder / CONFIG_NAME, folder / ".azureml" / CONFIG_NAME):
            if (found := service_config(file)) is not None:
                return folder, found
    return None


class Workspace:
    """A runyard workspace on this machine. `Workspace(path)` opens (or creates) the folder `path`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *service_positional: str,
                 name: str | None = None, create: bool = True, **service_arguments: Any) -> None:
        if service_positional:
            # the service's positional form Workspace(subscription_id, resource_group, workspace_name)
            if len(service_positional) > 2:
                raise InvalidValueError("arguments", service_positional, "are too many",
                                        "pass Workspace(path) or Workspace(subscription_id, resource_group, name)")
            service_arguments.update(zip(("resource_group", "workspace_name"), service_positional),
                                     subscription_id=str(path))
            path = None
        unknown = set(service_arguments) - SERVICE_ARGUMENTS
        if unknown:
            raise InvalidValueError(sorted(unknown)[0], service_arguments[sorted(unknown)[0]],
                                    "is not a Workspace parameter", "pass the workspace folder: Workspace(path)")
        if path is None and service_arguments.get("subscription_id"):
            # there is no subscription here: it names the workspace found as from_config() finds one
            path = find_workspace_path()
        name = name or service_arguments.get("workspace_name")
        root = Path(path) if path is not None else Path.cwd() / DEFAULT_DIR
        self.folder = WorkspaceFolder(root.expanduser().resolve())
        config = self.folder.config_file
        if not config.exists():
            if not create:
                raise WorkspaceError(f"path={str(self.path)!r}: no runyard workspace there. Fix: pass the folder "
                                     "that holds config.json, or Workspace(path) to create one")
            if self.path.exists() and not self.path.is_dir():
                raise WorkspaceError(f"path={str(self.path)!r}: is a file, not a folder. Fix: pass a folder path")
            identity = {k: str(service_arguments[k]) for k in IDENTITY_FIELDS if service_arguments.get(k)}
            self.folder.create({"name": name or self.path.parent.name or "workspace", "version": 1, **identity,
                                "datastores": {}, "compute_targets": {}})
            # said once, where it happens: runs from this folder and below go here, not to another workspace
            print(f"runyard: created workspace {self.folder.read_config()['name']!r} at {self.path}; runs "
                  f"submitted from {self.path.parent} and below are kept there", file=sys.stderr)
        if service_config(config) is not None:
            raise WorkspaceError(f"path={str(self.path)!r}: its config.json is the service's (workspace_name, "
                                 "subscription_id), not a runyard workspace; runyard leaves it as it is. Fix: "
                                 f"Workspace.from_config({str(self.path)!r}) uses the workspace beside it, "
                                 "in .runyard/")
        self._config = self.folder.read_config()
        if self._config.get("workspace_path"):  # a pointer written by write_config()
            self.folder = WorkspaceFolder(Path(self._config["workspace_path"]))
            self._config = self.folder.read_config()

    @property
    def path(self) -> Path:
        return self._local("the folder").path

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, _file_name: str | None = None,
                    create: bool = True, **_: Any) -> Workspace:
        """Find a workspace: `path` (a folder or its config.json), $RUNYARD_WORKSPACE, a `.runyard`
        folder in the cwd or any parent, else make `./.runyard` (unless create=False: then say none is there)."""
        if not create:
            found = Path(path).expanduser() if path is not None else find_workspace_path()
            if not (found / CONFIG_NAME).exists() and not (found / DEFAULT_DIR / CONFIG_NAME).exists() \
                    and service_config(found) is None and service_config(found / CONFIG_NAME) is None \
                    and (path is not None or _service_config_upward(Path.cwd().resolve()) is None):
                raise WorkspaceError(f"no runyard workspace at {found}. Fix: submit a run here (runyard submit "
                                     "train.py) to make one, or pass the workspace with -w PATH (or a server's URL)")
        if path is not None:
            p = Path(path).expanduser()
            if (found := service_config(p) or service_config(p / CONFIG_NAME)) is not None:
                return cls._beside_service_config(p.parent if p.is_file() else p, found)
            if p.is_file():
                p = p.parent
            elif (p / DEFAULT_DIR / CONFIG_NAME).exists():
                p = p / DEFAULT_DIR
            return cls(p, create=not p.exists() or not any(p.iterdir()))
        folder = find_workspace_path()
        if not (folder / CONFIG_NAME).exists() and not os.environ.get(WORKSPACE_ENV):
            if (service := _service_config_upward(Path.cwd().resolve())) is not None:
                return cls._beside_service_config(*service)
        return cls(folder, create=not os.environ.get(WORKSPACE_ENV))

    @classmethod
    def _beside_service_config(cls, folder: Path, service: dict[str, str]) -> Workspace:
        """The workspace a service config.json names: `<its folder>/.runyard`, labelled with its identity."""
        return cls(folder / DEFAULT_DIR, name=service.get("workspace_name"),
                   **{k: v for k, v in service.items() if k in IDENTITY_FIELDS})

    @staticmethod
    def connect(url: str, token: str | None = None) -> Workspace:
        """A workspace served by `runyard server` at `url` ($RUNYARD_SERVER_TOKEN by default), with the same
        Experiment / Run / Datastore API over HTTP."""
        from runyard.backends.http import HttpBackend

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidValueError("url", url, "is not a runyard server address",
                                    "pass e.g. 'http://127.0.0.1:8765' (what `runyard server` prints)")
        workspace = Workspace.__new__(Workspace)
        workspace.folder = None  # type: ignore[assignment]
        workspace.backend = HttpBackend(url, token)
        workspace._config = {"name": workspace.backend.name}
        return workspace

    @cached_property
    def backend(self) -> RunBackend:
        """Where runs are read and written: this folder, or (Workspace.connect) a server."""
        from runyard.backends.local import LocalBackend

        return LocalBackend(self.folder, self.name)

    @property
    def is_remote(self) -> bool:
        return self.folder is None

    @property
    def url(self) -> str:
        """The server's address (a remote workspace), or the folder's file:// address."""
        return self.backend.location if self.is_remote else self.path.as_uri()

    def _local(self, what: str) -> WorkspaceFolder:
        if self.folder is None:
            raise WorkspaceError(f"{what} of the workspace at {self.backend.location} is kept by that server. Fix: "
                                 "run this on the server's machine (runyard -w PATH), or use the runs API")
        return self.folder

    # The service's factory names, for code written against it.
    @classmethod
    def get(cls, name: str, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Workspace:
        return cls(path, name=name, **_identity_of(kwargs))

    @classmethod
    def create(cls, name: str, path: str | os.PathLike[str] | None = None, exist_ok: bool = True,
               **kwargs: Any) -> Workspace:
        """`Workspace.create(name, subscription_id=..., resource_group=..., location=...)`: the Azure
        arguments are recorded, not used; the workspace is the folder `path` (default ./.runyard)."""
        return cls(path, name=name, **_identity_of(kwargs))

    def write_config(self, path: str | os.PathLike[str] | None = None, file_name: str | None = None) -> None:
        """Write `<path>/.runyard/config.json` pointing here, so from_config() finds this workspace."""
        folder = Path(path or Path.cwd()) / DEFAULT_DIR
        if folder.resolve() == self.path:
            return
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (file_name or CONFIG_NAME)).write_text(json.dumps({"workspace_path": str(self.path)}))

    # -- config (the folder owns it) -------------------------------------------------------------
    def update_config(self, section: str, key: str, value: Any) -> None:
        """Set config[section][key] = value under a lock (None removes it)."""
        self._config = self._local("the configuration").update_config(section, key, value)

    def config_section(self, section: str) -> dict[str, Any]:
        return self._local("the configuration").config_section(section)

    # -- parts ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._config.get("name", "workspace"))

    # The service's identity attributes, printed by most notebooks; here they only label the workspace.
    @property
    def subscription_id(self) -> str:
        return str(self._config.get("subscription_id", LOCAL))

    @property
    def resource_group(self) -> str:
        return str(self._config.get("resource_group", LOCAL))

    @property
    def location(self) -> str:
        return str(self._config.get("location", LOCAL))

    @property
    def store(self) -> Store:
        return self._local("the store").store

    @property
    def blobs(self) -> BlobStore:
        return self._local("the snapshot store").blobs

    @property
    def runs_root(self) -> Path:
        return self._local("the runs folder").runs_root

    @property
    def snapshot_limits(self) -> SnapshotLimits:
        return self._local("the snapshot limits").snapshot_limits

    def get_default_datastore(self) -> Datastore:
        return self.datastores[DEFAULT_DATASTORE]

    @property
    def datastores(self) -> dict[str, Datastore]:
        from runyard.data.datastore import Datastore

        return {name: Datastore(self, name, entry.get("url") or Path(entry["path"]), entry.get("storage_options"))
                for name, entry in self.backend.datastore_entries().items()}

    @property
    def compute_targets(self) -> dict[str, Any]:
        """Targets by name (a remote workspace: the server's names and types)."""
        return self.backend.compute_targets()

    @property
    def experiments(self) -> dict[str, Experiment]:
        from runyard.experiment import Experiment

        return {name: Experiment(self, name) for name in self.backend.list_experiments()}

    @property
    def models(self) -> dict[str, Any]:
        """Registered models by name, each at its latest version (the service's ws.models)."""
        from runyard.models.registry import Model

        return {model.name: model for model in Model.list(self)}  # ascending versions: the latest wins

    @property
    def webservices(self) -> dict[str, Any]:
        from runyard.models.webservice import Webservice

        return {service.name: service for service in Webservice.list(self)}

    def get_run(self, run_id: str) -> Run:
        from runyard.run import Run

        return Run.get(self, run_id)

    def get_details(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "id": str(self.path), "location": self.location,
                "subscriptionId": self.subscription_id, "resourceGroup": self.resource_group}

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, {'url' if self.is_remote else 'path'}={self.backend.location!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.backend.location == self.backend.location

    def __hash__(self) -> int:
        return hash(self.backend.location)


class UnreachableWorkspace(Workspace):
    """What a script on a cluster node gets when the workspace folder is not visible there: logging
    (through the run's spool, in the shared folder) works; reading the store says why it cannot."""

    def __init__(self, path: str | os.PathLike[str]) -> None:  # noqa: D107 - nothing to open
        self.folder = WorkspaceFolder(Path(path))
        self._config = {"name": self.path.name}

    @property
    def backend(self) -> RunBackend:  # type: ignore[override]
        from runyard.backends.local import LocalBackend

        return LocalBackend(self.folder, self.name)

    @property
    def store(self) -> Store:  # type: ignore[override]
        raise WorkspaceError(f"the workspace {self.path} is not reachable from this node, so its store cannot be "
                             "read here. Fix: put the workspace on the shared filesystem to read runs from nodes "
                             "(logging works either way)")
