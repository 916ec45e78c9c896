"""Estimator: the service's run builder for a training script. It compiles to a JobSpec."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.data.data_reference import DataReference
from runyard.environments.definition import Environment, check_requirements, read_text_file
from runyard.errors import InvalidTypeError, InvalidValueError, warn_ignored
from runyard.runconfig import layout_of
from runyard.spec import (ContainerSpec, DataBinding, EnvironmentSpec, JobSpec, Limits, Resources, as_fault,
                          memory_mb)
from runyard.train.arguments import flatten_script_params
from runyard.train.job import check_environment_variables, check_source

if TYPE_CHECKING:
    pass

_CONTAINER_NOTE = ("without an image named, runyard runs the script in a cached virtual environment; pass "
                   "custom_docker_image='IMAGE' (or an environment with docker.enabled) to run it in a container")


class Estimator:
    """A training script with its arguments, packages and layout. Holds no runtime state."""

    _framework = "Python"

    def __init__(self, source_directory: str | os.PathLike[str], *, compute_target: Any = None,
                 vm_size: str | None = None, vm_priority: str | None = None, entry_script: str | None = None,
                 script_params: dict[str, Any] | None = None, node_count: int = 1, process_count_per_node: int = 1,
                 distributed_backend: str | None = None, distributed_training: Any = None, use_gpu: bool = False,
                 use_docker: bool | None = None, custom_docker_base_image: str | None = None,
                 custom_docker_image: str | None = None, image_registry_details: Any = None,
                 user_managed: bool = False, conda_packages: Sequence[str] | None = None,
                 pip_packages: Sequence[str] | None = None, conda_dependencies_file_path: str | None = None,
                 pip_requirements_file_path: str | None = None, conda_dependencies_file: str | None = None,
                 pip_requirements_file: str | None = None, environment_variables: dict[str, str] | None = None,
                 environment_definition: Environment | None = None, inputs: Sequence[Any] | None = None,
                 source_directory_data_store: Any = None, shm_size: str | None = None, resume_from: Any = None,
                 max_run_duration_seconds: float | None = None, framework_version: str | None = None,
                 max_restarts: int = 0, fault: Any = None, cpus_per_process: int | None = None,
                 memory: str | int | None = None, priority: int = 0, **unknown: Any) -> None:
        if unknown:
            name = sorted(unknown)[0]
            if not name.startswith("_"):  # the service's private switches (_disable_validation, ...) are harmless
                raise InvalidTypeError(name, unknown[name], f"is not a parameter of {type(self).__name__}",
                                       "check the spelling against the documented parameters")
        self.source_directory, self.entry_script = check_source(source_directory, entry_script)
        self.script_params = script_params
        self._bindings: list[DataBinding] = []
        self.arguments = flatten_script_params(script_params, self._bindings)
        self._bindings += _input_bindings(inputs)
        self.layout = layout_of(distributed_training, node_count, process_count_per_node, distributed_backend)
        # runyard's: what the box scheduler accounts (CPU slots per process, memory per run) and queue priority
        self.resources = Resources(self.layout.node_count, self.layout.process_count_per_node, use_gpu,
                                   cpus_per_process, memory_mb(memory))
        self.priority = priority
        self.limits = Limits(max_run_duration_seconds, max_restarts)
        self.fault = as_fault(fault)  # runyard's: a failure to inject, to test the script's resilience
        self.compute_target = compute_target
        if compute_target is not None and not isinstance(compute_target, str) and \
                not hasattr(compute_target, "launch"):
            raise InvalidTypeError("compute_target", compute_target, "must be a compute target name or object",
                                   "pass 'local', or ComputeTarget(workspace=ws, name=...)")
        self.environment_variables = check_environment_variables(environment_variables)
        self.environment = self._environment_spec(
            environment_definition, pip_packages, conda_packages,
            pip_requirements_file or pip_requirements_file_path,
            conda_dependencies_file or conda_dependencies_file_path, framework_version, user_managed)
        self.container = self._container_spec(environment_definition, use_docker,
                                              custom_docker_image or custom_docker_base_image, shm_size)
        contained = self.container is not None
        self._warn_service_only(vm_size=vm_size, vm_priority=vm_priority,
                                use_docker=None if contained or use_docker is False else use_docker,
                                image_registry_details=image_registry_details,
                                shm_size=None if contained else shm_size,
                                source_directory_data_store=source_directory_data_store, resume_from=resume_from)
        # compile once now, so every spec-level rule (backend needed for >1 rank, nccl needs GPUs) fails here
        self.job_spec("validation")

    # -- building -----------------------------------------------------------------------------
    @staticmethod
    def _container_spec(definition: Environment | None, use_docker: bool | None, image: str | None,
                        shm_size: str | None) -> ContainerSpec | None:
        """custom_docker_image runs the ranks in that image; an environment_definition's Docker settings, as they
        say (it takes precedence, as in the service). use_docker=True alone names no image: the service's 1.0
        default, carried along by scripts that meant nothing by it."""
        if image is not None and (not isinstance(image, str) or not image.strip()):
            raise InvalidValueError("custom_docker_image", image, "is not an image name",
                                    "pass e.g. custom_docker_image='pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime'")
        if definition is not None and isinstance(definition, Environment) and definition.docker.wanted(use_docker):
            return definition.docker.container_spec(use_docker, shm_size)
        if image and use_docker is not False:
            return ContainerSpec(image=image.strip(), shm_size=str(shm_size or "2g"))
        return None

    def _environment_spec(self, definition: Environment | None, pip: Any, conda: Any, pip_file: Any,
                          conda_file: Any, framework_version: Any, user_managed: bool) -> EnvironmentSpec:
        if framework_version is not None and (not isinstance(framework_version, str) or
                                              not all(p.isdigit() for p in framework_version.split("."))):
            raise InvalidValueError("framework_version", framework_version, "is not a version such as '2.1'",
                                    f"pass one of {self.get_supported_versions()} or None for the installed one")
        if framework_version is not None and not any(
                v == framework_version or v.startswith(framework_version + ".") or framework_version.startswith(v)
                for v in self.get_supported_versions()):
            # another torch would be a multi-GB download: runyard reuses the base interpreter's torch
            raise InvalidValueError("framework_version", framework_version,
                                    f"is not available here (available: {self.get_supported_versions() or 'none'})",
                                    "pass one of the available versions, or None for the installed torch")
        if not isinstance(user_managed, bool):
            raise InvalidTypeError("user_managed", user_managed, "must be True or False", "pass user_managed=True")
        if definition is not None:
            if not isinstance(definition, Environment):
                raise InvalidTypeError("environment_definition", definition, "must be an Environment",
                                       "pass runyard.core.Environment(...)")
            for name, value in (("pip_packages", pip), ("conda_packages", conda), ("pip_requirements_file", pip_file),
                                ("conda_dependencies_file", conda_file)):
                if value:
                    warn_ignored(name, value, "environment_definition takes precedence, as in the service")
            spec = definition.to_spec()  # takes precedence over the package parameters, as in the service
            return replace(spec, framework_version=spec.framework_version or framework_version)
        root = self.source_directory
        asked = check_requirements("pip_packages", pip)
        named = {re.split(r"[<>=!~\[; ]", p, maxsplit=1)[0].lower() for p in asked}
        implied = tuple(p for p in self._implied_packages() if re.split(r"[<>=!~]", p)[0].lower() not in named)
        return EnvironmentSpec(
            pip_packages=asked + implied,
            conda_packages=check_requirements("conda_packages", conda),
            pip_requirements=read_text_file("pip_requirements_file", pip_file, root),
            conda_specification=read_text_file("conda_dependencies_file", conda_file, root),
            framework_version=framework_version,
            user_managed=user_managed,
        )

    def _implied_packages(self) -> tuple[str, ...]:
        return ()

    @staticmethod
    def _warn_service_only(**values: Any) -> None:
        notes = {
            "vm_size": "machines come from the compute target",
            "vm_priority": "machines come from the compute target",
            "use_docker": _CONTAINER_NOTE,
            "image_registry_details": "images are pulled with the container runtime's own login (podman login)",
            "shm_size": "it applies to containers only; this run's ranks are processes using the host's /dev/shm",
            "source_directory_data_store": "snapshots are stored in the workspace's own blob folder",
            "resume_from": "pass the checkpoint as a DataReference in script_params or inputs instead",
        }
        for name, value in values.items():
            if value is not None and not (name == "use_docker" and value is False):
                warn_ignored(name, value, notes[name])

    # -- submission.JobConfig ----------------------------------------------------------------------
    def job_spec(self, experiment: str, compute_name: str = "local") -> JobSpec:
        return JobSpec(experiment=experiment, entry_script=self.entry_script, snapshot_digest="",
                       compute_target=compute_name, arguments=tuple(self.arguments), environment=self.environment,
                       resources=self.resources, backend=self.layout.backend, inputs=tuple(self._bindings),
                       limits=self.limits, environment_variables=self.environment_variables, fault=self.fault,
                       framework=self._framework, priority=self.priority, container=self.container)

    def job_source(self) -> Path:
        return self.source_directory

    def job_compute(self) -> Any:
        return self.compute_target

    @staticmethod
    def get_supported_versions() -> list[str]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("torch").split("+")[0]
        except PackageNotFoundError:
            return []
        return [".".join(installed.split(".")[:2])]

    @property
    def run_config(self) -> dict[str, Any]:
        return self.job_spec("preview").to_dict()


def _input_bindings(inputs: Any) -> list[DataBinding]:
    if inputs is None:
        return []
    if not isinstance(inputs, (list, tuple)):
        raise InvalidTypeError("inputs", inputs, "must be a list of data references",
                               "pass e.g. [ds.path('data').as_download()]")
    bindings = []
    for i, ref in enumerate(inputs):
        if hasattr(ref, "as_mount") and not isinstance(ref, DataReference):
            ref = ref.as_mount()
        if not isinstance(ref, DataReference):
            raise InvalidTypeError(f"inputs[{i}]", ref, "is not a DataReference",
                                   "pass ds.path('x').as_download(), ds.as_mount() or ds.as_upload(...)")
        bindings.append(ref.to_binding())
    return bindings
