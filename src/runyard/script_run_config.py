"""ScriptRunConfig: the later SDK's way to describe a run (script + arguments + environment + layout)."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

from runyard.environments import Environment
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.runconfig import RunConfiguration, layout_of
from runyard.spec import DataBinding, JobSpec, Limits, Resources
from runyard.train.arguments import flatten_arguments
from runyard.train.job import PreparedJob, check_environment_variables, check_source, resolve_compute

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
                 use_gpu: bool = False, max_restarts: int = 0) -> None:
        self.run_config = run_config or RunConfiguration()
        if not isinstance(self.run_config, RunConfiguration):
            raise InvalidTypeError("run_config", run_config, "must be a RunConfiguration",
                                   "pass RunConfiguration() or leave it out")
        if command is not None:
            script, arguments = _split_command(command, arguments)
        script = script or self.run_config.script
        self.source_directory, self.script = check_source(source_directory, script, "script")
        self._bindings: list[DataBinding] = []
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
        self.resources = Resources(self.layout.node_count, self.layout.process_count_per_node, use_gpu)
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
                       environment_variables=self.environment_variables, framework=self.run_config.framework)

    def _prepare(self, workspace: Workspace, experiment: str) -> PreparedJob:
        compute = resolve_compute(workspace, self.compute_target)
        spec = self._spec(experiment, compute.name)
        compute.check(spec)
        return PreparedJob(self.source_directory, spec, compute)


def _split_command(command: list[str] | str, arguments: list[Any] | None) -> tuple[str, list[Any]]:
    """Accept `python train.py --x 1` (as a string or a list); other commands are not runnable yet."""
    parts: list[Any] = shlex.split(command) if isinstance(command, str) else list(command)
    if len(parts) >= 2 and os.path.basename(str(parts[0])).startswith("python") and str(parts[1]).endswith(".py"):
        return str(parts[1]), parts[2:] + list(arguments or [])
    raise InvalidValueError("command", command, "is not of the form 'python SCRIPT.py [ARGS...]'",
                            "pass script='train.py' and arguments=[...] instead")
