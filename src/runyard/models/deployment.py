"""`Model.deploy(ws, name, models, InferenceConfig(...), deployment_config)`: start a scoring process.

The entry script's init() runs once with AZUREML_MODEL_DIR pointing at the model files; each POST /score
calls run(raw_json). The process runs in the InferenceConfig's environment (a cached uv layer, as runs do)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.models.deploy_config import DeploymentConfiguration
from runyard.models.webservice import (Webservice, WebserviceException, check_service_name, default_configuration,
                                       services_root)

if TYPE_CHECKING:
    from runyard.environments import Environment
    from runyard.models.registry import Model
    from runyard.workspace import Workspace

START_TIMEOUT = 120.0


class InferenceConfig:
    def __init__(self, entry_script: str, environment: Environment | None = None,
                 source_directory: str | None = None, runtime: str | None = None, **_: Any) -> None:
        from runyard.environments import Environment

        root = Path(source_directory or ".").resolve()
        if not isinstance(entry_script, str) or not (root / entry_script).is_file():
            raise InvalidValueError("entry_script", entry_script, f"does not exist in {root}",
                                    "pass the scoring script (with init() and run(raw)) relative to source_directory")
        if root not in (root / entry_script).resolve().parents:
            raise InvalidValueError("entry_script", entry_script, f"is outside source_directory {root}",
                                    "move the scoring script into source_directory")
        if environment is not None and not isinstance(environment, Environment):
            raise InvalidTypeError("environment", environment, "is not an Environment",
                                   "pass Environment.from_conda_specification(...) or another Environment")
        self.entry_script, self.environment = entry_script, environment
        # without a source_directory only the entry script travels (not the whole working directory)
        self.source_directory: Path | None = root if source_directory is not None else None
        self.entry_path = root / entry_script


def deploy(workspace: Workspace, name: str, models: list[Model], inference_config: InferenceConfig,
           deployment_config: DeploymentConfiguration | None = None, overwrite: bool = False) -> Webservice:
    import psutil

    from runyard.compute.local import free_port

    if not isinstance(inference_config, InferenceConfig):
        raise InvalidTypeError("inference_config", inference_config, "is not an InferenceConfig",
                               "pass InferenceConfig(entry_script='score.py', source_directory='.')")
    if not isinstance(models, (list, tuple)) or not models:
        raise InvalidValueError("models", models, "must be a non-empty list of registered models",
                                "pass models=[Model(ws, 'name')]")
    check_service_name(name)
    config = deployment_config or default_configuration()
    if not isinstance(config, DeploymentConfiguration):
        raise InvalidTypeError("deployment_config", deployment_config, "is not a deployment configuration",
                               "pass LocalWebservice.deploy_configuration(port=...) or AciWebservice's")
    folder = services_root(workspace) / name
    if folder.exists():
        if not overwrite:
            raise InvalidValueError("name", name, "is already a deployed service",
                                    "pass overwrite=True, or delete it first (service.delete())")
        Webservice(workspace, name).delete()
    port = config.port or free_port()
    if not _port_free(port):
        raise InvalidValueError("port", port, "is in use by another process on this machine",
                                "pass another port to deploy_configuration(port=...), or leave it out for a free one")
    models_root = folder / "azureml-models"
    for model in models:
        shutil.copytree(model.path, models_root / model.name / str(model.version))
    _copy_source(inference_config, folder / "source")
    record: dict[str, Any] = {"entry_script": inference_config.entry_script, "port": port, "pid": 0,
                              "kind": config.kind.value, "tags": config.tags, "description": config.description,
                              "models": [m.id for m in models],
                              "key": secrets.token_urlsafe(24) if config.auth_enabled else None,
                              "instance": secrets.token_hex(8)}
    _write_private(folder / "service.json", record)
    model_dir = models_root / models[0].name / str(models[0].version) if len(models) == 1 else models_root
    env = {**os.environ, "AZUREML_MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                    env.get("PYTHONPATH")) if p)
    interpreter = _interpreter(workspace, inference_config.environment, folder)
    with open(folder / "log.txt", "ab") as log:
        proc = subprocess.Popen([interpreter, "-m", "runyard.models.serve", str(folder), str(port)], env=env,
                                cwd=folder / "source", stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    record.update(pid=proc.pid, create_time=psutil.Process(proc.pid).create_time())
    _write_private(folder / "service.json", record)
    service = Webservice(workspace, name)
    _wait_until_serving(service, proc, port, record["instance"])
    return service


def _copy_source(config: InferenceConfig, target: Path) -> None:
    if config.source_directory is None:
        target.mkdir(parents=True)
        destination = target / config.entry_script
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(config.entry_path, destination)
    else:
        shutil.copytree(config.source_directory, target,
                        ignore=shutil.ignore_patterns(".runyard", ".git", "__pycache__"))


def _write_private(path: Path, record: dict[str, Any]) -> None:
    """service.json holds the service's key: readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record))
    os.chmod(path, 0o600)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wait_until_serving(service: Webservice, proc: subprocess.Popen[bytes], port: int, instance: str) -> None:
    """Healthy only when *our* process answers (its instance id), never another server on that port."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise WebserviceException(f"service {service.name} failed to start (init() raised, or port {port} "
                                      f"was taken meanwhile?):\n{service.get_logs(40)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                if json.loads(answer.read()).get("instance") == instance:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    service.delete()
    raise WebserviceException(f"service {service.name} did not answer within {START_TIMEOUT:.0f}s")


def _interpreter(workspace: Workspace, environment: Environment | None, folder: Path) -> str:
    if environment is None or not environment.to_spec().needs_build():
        return sys.executable
    from runyard.environments.build import ensure_environment
    from runyard.environments.cache import EnvironmentCache

    built = ensure_environment(environment.to_spec(), EnvironmentCache(workspace.path / "environments"),
                               folder / "log.txt", lambda line: None)
    return str(built.interpreter)
