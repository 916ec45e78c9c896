"""ScriptRunConfig: the later SDK's way to describe a run (script + arguments + environment + layout).

As in the service, the target, environment, layout, limits and environment variables live in
`self.run_config`, and what is submitted is read from the config object at submit time: a notebook's
`src.run_config.environment = env` (or `src.arguments = [...]`) after construction is what runs.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.environments import Environment
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.runconfig import DockerConfiguration, Layout, RunConfiguration, layout_of
from runyard.spec import Backend, ContainerSpec, DataBinding, JobSpec, Limits, Resources, as_fault, memory_mb
from runyard.train.arguments import flatten_arguments
from runyard.train.job import check_environment_variables, check_source, check_source_folder

if TYPE_CHECKING:
    pass

DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000


class ScriptRunConfig:
    def __init__(self, source_directory: str | os.PathLike[str] | None = None, script: str | None = None,
                 arguments: list[Any] | None = None, run_config: RunConfiguration | None = None,
                 _telemetry_values: Any = None, compute_target: Any = None, environment: Environment | None = None,
                 distributed_job_config: Any = None, resume_from: Any = None,
                 max_run_duration_seconds: float | None = DEFAULT_MAX_RUN_DURATION_SECONDS,
                 command: list[str] | str | None = None, docker_runtime_config: Any = None,
                 use_gpu: bool | None = None, max_restarts: int = 0, cpus_per_process: int | None = None,
                 memory: str | int | None = None, priority: int | None = None) -> None:
        if run_config is not None and not isinstance(run_config, RunConfiguration):
            raise InvalidTypeError("run_config", run_config, "must be a RunConfiguration",
                                   "pass RunConfiguration() or leave it out")
        self.run_config = run_config or RunConfiguration()
        self.source_directory: Any = source_directory
        self.script = script if script is not None else self.run_config.script
        self.arguments: Any = arguments if arguments is not None else list(self.run_config.arguments or [])
        self.command = command
        self.use_gpu = use_gpu
        self.max_restarts = max_restarts
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if docker_runtime_config is not None:
            if not isinstance(docker_runtime_config, DockerConfiguration):
                raise InvalidTypeError("docker_runtime_config", docker_runtime_config, "must be a DockerConfiguration",
                                       "pass DockerConfiguration(use_docker=True)")
            self.run_config.docker = docker_runtime_config
        if distributed_job_config is not None:
            self.run_config.distributed_job_config = distributed_job_config
            self.run_config.node_count = layout_of(distributed_job_config, self.run_config.node_count, 1, None,
                                                   "distributed_job_config").node_count
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        for name, value in (("cpus_per_process", cpus_per_process), ("memory", memory), ("priority", priority)):
            if value is not None:
                setattr(self.run_config, name, value)
        self.job_spec("validation")  # a bad input fails here, before anything is written

    # -- views over run_config (the service kept these there; they are read at submit) -----------
    @property
    def compute_target(self) -> Any:
        return self.run_config.target

    @compute_target.setter
    def compute_target(self, value: Any) -> None:
        self.run_config.target = value

    @property
    def environment(self) -> Environment:
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Environment) -> None:
        self.run_config.environment = value

    @property
    def distributed_job_config(self) -> Any:
        return self.run_config.distributed_job_config

    @distributed_job_config.setter
    def distributed_job_config(self, value: Any) -> None:
        self.run_config.distributed_job_config = value

    @property
    def layout(self) -> Layout:
        return layout_of(self.run_config.distributed_job_config, self.run_config.node_count, 1, None,
                         "distributed_job_config")

    def _compiled(self) -> tuple[Path, str, list[str], str, list[DataBinding]]:
        """(source folder, script, argv, shell command, data bindings) from the config as it is now."""
        bindings: list[DataBinding] = []
        script, arguments, shell_command = self.script, self.arguments, ""
        if self.command is not None:
            script, split_arguments, shell_command = split_command(self.command, self.arguments or None, bindings)
            script, arguments = script or self.script, split_arguments or []
        if shell_command and not (script and (check_source_folder(self.source_directory) / script).is_file()):
            # a command that names no script of the folder: snapshot the folder, run the command as it is
            root, script = check_source_folder(self.source_directory), ""
        else:
            root, script = check_source(self.source_directory, script, "script")
        if not isinstance(arguments, (list, tuple)):
            raise InvalidTypeError("arguments", arguments, "must be a list",
                                   "pass arguments=['--epochs', 5, '--data', ds.as_mount()]")
        argv = flatten_arguments(list(arguments or []), bindings)
        return root, script, argv, shell_command, bindings

    # -- submission.JobConfig ----------------------------------------------------------------------
    def job_spec(self, experiment: str, compute_name: str = "local") -> JobSpec:
        environment = self.run_config.environment
        if not isinstance(environment, Environment):
            raise InvalidTypeError("environment", environment, "must be an Environment",
                                   "pass runyard.core.Environment(...) or leave it out")
        root, script, argv, shell_command, bindings = self._compiled()
        layout = self.layout
        # the service had no use_gpu here: the compute decided. NCCL (PyTorchConfiguration's default) means GPUs
        gpu = self.use_gpu if self.use_gpu is not None else layout.backend is Backend.NCCL
        variables = check_environment_variables({**environment.environment_variables,
                                                 **self.run_config.environment_variables})
        return JobSpec(experiment=experiment, entry_script=script, snapshot_digest="",
                       compute_target=compute_name, arguments=tuple(argv), environment=environment.to_spec(),
                       resources=Resources(layout.node_count, layout.process_count_per_node, gpu,
                                           getattr(self.run_config, "cpus_per_process", None),
                                           memory_mb(getattr(self.run_config, "memory", None))),
                       priority=getattr(self.run_config, "priority", 0),
                       backend=layout.backend, inputs=tuple(bindings),
                       limits=Limits(self.run_config.max_run_duration_seconds, self.max_restarts),
                       environment_variables=variables, framework=self.run_config.framework,
                       fault=as_fault(getattr(self.run_config, "fault", None)),
                       shell_command=shell_command, container=self._container(environment))

    def _container(self, environment: Environment) -> ContainerSpec | None:
        docker = getattr(self.run_config, "docker", None) or DockerConfiguration()
        return environment.docker.container_spec(docker.use_docker, docker.shm_size, docker.arguments)

    def job_source(self) -> Path:
        return check_source_folder(self.source_directory)

    def job_compute(self) -> Any:
        return self.run_config.target


_SHELL_SYNTAX = re.compile(r"[;&|<>`*?]|\$\(|\$\{?[A-Za-z_]")


def split_command(command: Any, arguments: list[Any] | None,
                  bindings: list[DataBinding]) -> tuple[str | None, list[Any] | None, str]:
    """(script, arguments, shell command). `python train.py --x 1`, as a string or a list, runs the script
    directly (no shell); anything else (torchrun, `python -m ...`, `&&`, $VARS) runs under bash -c, the
    list's words joined with spaces as the service did. DataReferences in the list become their
    $AZUREML_DATAREFERENCE_ variables, which the shell expands."""
    if isinstance(command, str):
        text = command
    elif isinstance(command, (list, tuple)) and command:
        text = " ".join(flatten_arguments(list(command), bindings))
    else:
        raise InvalidTypeError("command", command, "must be a string or a non-empty list",
                               "pass command='python train.py --epochs 5' or ['python', 'train.py', ...]")
    if arguments:
        raise InvalidValueError("arguments", arguments, "is given together with command",
                                "put the arguments in the command, or pass script= and arguments= instead")
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise InvalidValueError("command", command, f"cannot be parsed ({e})", "close the quotes in the command") from None
    if not words:
        raise InvalidValueError("command", command, "is empty", "pass the command to run, e.g. 'python train.py'")
    direct = (len(words) >= 2 and os.path.basename(words[0]).startswith("python") and words[1].endswith(".py")
              and not _SHELL_SYNTAX.search(text))
    if direct:
        return words[1], words[2:], ""
    return next((w for w in words if w.endswith(".py")), None), None, text
