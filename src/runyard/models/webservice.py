"""Deployed web services (the service's `azureml.core.webservice`): a scoring process on this machine.

    services/<name>/source/          the inference source folder (a copy)
    services/<name>/azureml-models/<model>/<version>/   the model files (AZUREML_MODEL_DIR)
    services/<name>/service.json     entry script, port, pid, kind, tags, key
    services/<name>/log.txt          the scoring process's output (get_logs)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError, RunyardError, WorkspaceError
from runyard.launch.procs import process_alive
from runyard.models.deploy_config import DeploymentConfiguration, ServiceKind, make_configuration

if TYPE_CHECKING:
    from runyard.workspace import Workspace


class WebserviceException(RunyardError):
    """The service could not be deployed or answered with an error (the service's name)."""


_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


def check_service_name(name: Any) -> str:
    """The service's rule (3-32 lowercase letters, digits and dashes), which also keeps the folder inside
    the workspace."""
    if not isinstance(name, str) or not _SERVICE_NAME.match(name):
        raise InvalidValueError("name", name, "is not a valid service name",
                                "use 3-32 lowercase letters, digits and dashes, starting with a letter")
    return name


def services_root(workspace: Workspace) -> Path:
    return workspace.path / "services"


class Webservice:
    """`Webservice(ws, name)`: a deployed service, whichever configuration deployed it."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace, self.name = workspace, check_service_name(name)
        self.folder = services_root(workspace) / name
        if not (self.folder / "service.json").exists():
            raise WebserviceException(f"name={name!r}: no such web service in workspace {workspace.name!r}. "
                                      "Fix: deploy it first with Model.deploy(...)")

    @staticmethod
    def list(workspace: Workspace, compute_type: str | None = None, **_: Any) -> list[Webservice]:
        root = services_root(workspace)
        names = sorted(p.parent.name for p in root.glob("*/service.json")) if root.is_dir() else []
        services = [Webservice(workspace, n) for n in names]
        return [s for s in services if compute_type is None or s.compute_type.lower() == compute_type.lower()]

    @property
    def _config(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.folder / "service.json").read_text()))
        except (OSError, ValueError) as e:
            raise WorkspaceError(f"cannot read {self.folder / 'service.json'}: {e}. "
                                 "Fix: delete the service and deploy it again") from e

    @property
    def port(self) -> int:
        return int(self._config["port"])

    @property
    def scoring_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    @property
    def compute_type(self) -> str:
        return str(self._config.get("kind", ServiceKind.LOCAL.value))

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._config.get("tags", {}))

    @property
    def description(self) -> str | None:
        return self._config.get("description")

    @property
    def models(self) -> list[str]:
        return list(self._config.get("models", []))

    @property
    def state(self) -> str:
        config = self._config
        if not config.get("pid"):
            return "Transitioning"
        return "Healthy" if process_alive(config["pid"], config.get("create_time")) else "Failed"

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None) -> None:
        if show_output:
            print(f"{self.compute_type} service {self.name}: {self.state} at {self.scoring_uri}", flush=True)
        if self.state == "Failed":
            raise WebserviceException(f"service {self.name} is not running. Its log:\n{self.get_logs(40)}")

    def get_keys(self) -> tuple[str, str]:
        key = self._config.get("key")
        if not key:
            raise WebserviceException(f"service {self.name} has no keys: it was deployed with auth_enabled=False. "
                                      "Fix: deploy with deploy_configuration(auth_enabled=True)")
        return str(key), str(key)

    def run(self, input_data: Any) -> Any:
        body = input_data if isinstance(input_data, (str, bytes)) else json.dumps(input_data)
        headers = {"Content-Type": "application/json"}
        if key := self._config.get("key"):
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.scoring_uri, data=body.encode() if isinstance(body, str) else body,
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise WebserviceException(f"service {self.name} answered {e.code}: "
                                      f"{json.loads(e.read() or b'{}').get('error', '')}") from None
        except urllib.error.URLError as e:
            raise WebserviceException(f"service {self.name} did not answer at {self.scoring_uri} ({e.reason}); "
                                      f"state {self.state}. Fix: look at service.get_logs()") from None

    def get_logs(self, num_lines: int = 5000, init: bool = False) -> str:
        lines = (self.folder / "log.txt").read_text(errors="replace").splitlines()
        return "\n".join(lines[-num_lines:])

    def delete(self) -> None:
        config = self._config
        pid, created = config.get("pid"), config.get("create_time")
        if pid and process_alive(pid, created):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and process_alive(pid, created):
                time.sleep(0.05)
            if process_alive(pid, created):
                os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "computeType": self.compute_type, "state": self.state,
                "scoringUri": self.scoring_uri, "tags": self.tags, "description": self.description,
                "models": self.models}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, state={self.state!r})"


class LocalWebservice(Webservice):
    @staticmethod
    def deploy_configuration(port: int | None = None, **ignored: Any) -> DeploymentConfiguration:
        return make_configuration(ServiceKind.LOCAL, port, None, None, None, ignored)


class AciWebservice(Webservice):
    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None,
                             tags: dict[str, Any] | None = None, properties: Any = None,
                             description: str | None = None, auth_enabled: bool | None = None,
                             port: int | None = None, **ignored: Any) -> DeploymentConfiguration:
        return make_configuration(ServiceKind.ACI, port, auth_enabled, tags, description,
                                  {"cpu_cores": cpu_cores, "memory_gb": memory_gb, **ignored})


class AksWebservice(Webservice):
    @staticmethod
    def deploy_configuration(autoscale_enabled: bool | None = None, cpu_cores: float | None = None,
                             memory_gb: float | None = None, tags: dict[str, Any] | None = None,
                             description: str | None = None, auth_enabled: bool | None = None,
                             port: int | None = None, **ignored: Any) -> DeploymentConfiguration:
        # the service enabled key auth on AKS unless told otherwise
        return make_configuration(ServiceKind.AKS, port, True if auth_enabled is None else auth_enabled, tags,
                                  description, {"autoscale_enabled": autoscale_enabled, "cpu_cores": cpu_cores,
                                                "memory_gb": memory_gb, **ignored})


def default_configuration() -> DeploymentConfiguration:
    return DeploymentConfiguration()
