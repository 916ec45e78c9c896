"""ScriptRunConfig: the later SDK's way to describe a run (script + arguments + environment + layout)."""

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING, Any

from runyard.environments import Environment
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.runconfig import RunConfiguration, layout_of
from runyard.spec import Backend, DataBinding, JobSpec, Limits, Resources
from runyard.train.arguments import flatten_arguments
from runyard.train.job import (PreparedJob, check_environment_variables, check_source, check_source_folder,
                               resolve_compute)

if TYPE_CHECKING:
    from runyard.workspace import Workspace

DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000


class ScriptRunConfig:
    def __init__(self, source_directory: str | os.PathLike[str] | None = None, script: str | None = None,
                 arguments: list[Any] | None = None, run_config: RunConfiguration | None = None,
                 _telemetry_values: Any = None, compute_target: Any = None, environment: Environment | None = None,
                 distributed_job_config: Any = None, resume_from: Any = None,
                 max_run_duration_seconds: float | None = DEFAULT_MAX_RUN_DURATION_SECONDS,
                 command: list[str] | str | None = None, docker_runtime_config: Any = None,
                 use_gpu: bool | None = None, max_restarts: int = 0) -> None:
        self.run_config = run_config or RunConfiguration()
        if not isinstance(self.run_config, RunConfiguration):
            raise InvalidTypeError("run_config", run_config, "must be a RunConfiguration",
                                   "pass RunConfiguration() or leave it out")
        self._bindings: list[DataBinding] = []
        self.command = command
        self.shell_command = ""
        if command is not None:
            script, arguments, self.shell_command = split_command(command, arguments, self._bindings)
        script = script or self.run_config.script
        if self.shell_command and not (script and (check_source_folder(source_directory) / script).is_file()):
            # a command that names no script of the folder: snapshot the folder, run the command as it is
            self.source_directory, self.script = check_source_folder(source_directory), ""
        else:
            self.source_directory, self.script = check_source(source_directory, script, "script")
        self.arguments = flatten_arguments(arguments if arguments is not None else self.run_config.arguments,
                                           self._bindings)
        self.environment = environment if environment is not None else self.run_config.environment
        if not isinstance(self.environment, Environment):
            raise InvalidTypeError("environment", environment, "must be an Environment",
                                   "pass runyard.core.Environment(...) or leave it out")
        self.compute_target = compute_target if compute_target is not None else self.run_config.target
        self.distributed_job_config = distributed_job_config
        self.layout = layout_of(distributed_job_config, self.run_config.node_count, 1, None,
                                "distributed_job_config")
        # the service had no use_gpu here: the compute decided. NCCL (PyTorchConfiguration's default) means GPUs
        gpu = use_gpu if use_gpu is not None else self.layout.backend is Backend.NCCL
        self.resources = Resources(self.layout.node_count, self.layout.process_count_per_node, gpu)
        duration = max_run_duration_seconds or self.run_config.max_run_duration_seconds
        self.limits = Limits(duration, max_restarts)
        self.environment_variables = check_environment_variables(
            {**self.environment.environment_variables, **self.run_config.environment_variables})
        self._spec("validation")

    def _spec(self, experiment: str, compute_name: str = "local") -> JobSpec:
        return JobSpec(experiment=experiment, entry_script=self.script, snapshot_digest="",
                       compute_target=compute_name, arguments=tuple(self.arguments),
                       environment=self.environment.to_spec(), resources=self.resources,
                       backend=self.layout.backend, inputs=tuple(self._bindings), limits=self.limits,
                       environment_variables=self.environment_variables, framework=self.run_config.framework,
                       shell_command=self.shell_command)

    def _prepare(self, workspace: Workspace, experiment: str) -> PreparedJob:
        compute = resolve_compute(workspace, self.compute_target)
        spec = self._spec(experiment, compute.name)
        compute.check(spec)
        return PreparedJob(self.source_directory, spec, compute)


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
