"""Deploying registered models as a local web service (the service's Model.deploy + LocalWebservice).

    services/<name>/source/          the inference source folder (a copy)
    services/<name>/azureml-models/<model>/<version>/   the model files (AZUREML_MODEL_DIR)
    services/<name>/service.json     entry script, port, pid
    services/<name>/log.txt          the scoring process's output (get_logs)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidTypeError, InvalidValueError, RunyardError, WorkspaceError
from runyard.launch.procs import process_alive

if TYPE_CHECKING:
    from runyard.environments import Environment
    from runyard.models.registry import Model
    from runyard.workspace import Workspace

START_TIMEOUT = 120.0


class WebserviceException(RunyardError):
    """The service could not be deployed or answered with an error (the service's name)."""


class InferenceConfig:
    def __init__(self, entry_script: str, environment: Environment | None = None,
                 source_directory: str | None = None, runtime: str | None = None, **_: Any) -> None:
        root = Path(source_directory or ".").resolve()
        if not (root / entry_script).is_file():
            raise InvalidValueError("entry_script", entry_script, f"does not exist in {root}",
                                    "pass the scoring script (with init() and run(raw)) relative to source_directory")
        self.entry_script, self.environment, self.source_directory = entry_script, environment, root


@dataclass(frozen=True)
class LocalWebserviceDeploymentConfiguration:
    port: int | None = None


class LocalWebservice:
    """A scoring process on this machine, answering POST /score."""

    @staticmethod
    def deploy_configuration(port: int | None = None) -> LocalWebserviceDeploymentConfiguration:
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise InvalidValueError("port", port, "is not a TCP port", "pass a port from 1 to 65535, or None")
        return LocalWebserviceDeploymentConfiguration(port)

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace, self.name = workspace, name
        self.folder = workspace.path / "services" / name
        if not (self.folder / "service.json").exists():
            raise WorkspaceError(f"service name={name!r}: no such local web service. Fix: Model.deploy(...) first")

    @property
    def _config(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / "service.json").read_text()))

    @property
    def port(self) -> int:
        return int(self._config["port"])

    @property
    def scoring_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    @property
    def state(self) -> str:
        config = self._config
        return "Healthy" if process_alive(config["pid"], config.get("create_time")) else "Failed"

    def wait_for_deployment(self, show_output: bool = False) -> None:
        if show_output:
            print(f"Local web service {self.name}: {self.state} at {self.scoring_uri}")

    def run(self, input_data: Any) -> Any:
        body = input_data if isinstance(input_data, (str, bytes)) else json.dumps(input_data)
        request = urllib.request.Request(self.scoring_uri, data=body.encode() if isinstance(body, str) else body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise WebserviceException(f"service {self.name} answered {e.code}: "
                                      f"{json.loads(e.read() or b'{}').get('error', '')}") from None

    def get_logs(self, num_lines: int = 5000) -> str:
        lines = (self.folder / "log.txt").read_text(errors="replace").splitlines()
        return "\n".join(lines[-num_lines:])

    def delete(self) -> None:
        config = self._config
        if process_alive(config["pid"], config.get("create_time")):
            os.killpg(config["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and process_alive(config["pid"], config.get("create_time")):
                time.sleep(0.05)
            if process_alive(config["pid"], config.get("create_time")):
                os.killpg(config["pid"], signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


def deploy(workspace: Workspace, name: str, models: list[Model], inference_config: InferenceConfig,
           deployment_config: LocalWebserviceDeploymentConfiguration | None = None,
           overwrite: bool = False) -> LocalWebservice:
    import psutil

    if not isinstance(inference_config, InferenceConfig):
        raise InvalidTypeError("inference_config", inference_config, "is not an InferenceConfig",
                               "pass InferenceConfig(entry_script='score.py', source_directory='.')")
    folder = workspace.path / "services" / name
    if folder.exists():
        if not overwrite:
            raise InvalidValueError("name", name, "is already a deployed service",
                                    "pass overwrite=True, or delete it first (service.delete())")
        LocalWebservice(workspace, name).delete()
    from runyard.compute.local import free_port

    port = (deployment_config.port if deployment_config else None) or free_port()
    models_root = folder / "azureml-models"
    for model in models:
        shutil.copytree(model.path, models_root / model.name / str(model.version))
    shutil.copytree(inference_config.source_directory, folder / "source",
                    ignore=shutil.ignore_patterns(".runyard", ".git", "__pycache__"))
    model_dir = models_root / models[0].name / str(models[0].version) if len(models) == 1 else models_root
    env = {**os.environ, "AZUREML_MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"}
    interpreter = _interpreter(workspace, inference_config, folder)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                    env.get("PYTHONPATH")) if p)
    (folder / "service.json").write_text(json.dumps({"entry_script": inference_config.entry_script, "port": port,
                                                     "pid": 0}))
    with open(folder / "log.txt", "ab") as log:
        proc = subprocess.Popen([interpreter, "-m", "runyard.models.serve", str(folder), str(port)], env=env,
                                cwd=folder / "source", stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    (folder / "service.json").write_text(json.dumps({
        "entry_script": inference_config.entry_script, "port": port, "pid": proc.pid,
        "create_time": psutil.Process(proc.pid).create_time(),
        "models": [m.id for m in models]}))
    service = LocalWebservice(workspace, name)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise WebserviceException(f"service {name} failed to start (init() raised?):\n{service.get_logs(40)}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return service
        except OSError:
            time.sleep(0.1)
    service.delete()
    raise WebserviceException(f"service {name} did not answer within {START_TIMEOUT:.0f}s")


def _interpreter(workspace: Workspace, config: InferenceConfig, folder: Path) -> str:
    env = config.environment
    if env is None or not env.to_spec().needs_build():
        return sys.executable
    from runyard.envbuild.build import ensure_environment
    from runyard.envbuild.cache import EnvironmentCache

    built = ensure_environment(env.to_spec(), EnvironmentCache(workspace.path / "environments"),
                               folder / "log.txt", lambda line: None)
    return str(built.interpreter)
