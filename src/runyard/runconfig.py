"""Distributed layouts and run configuration (the service's `azureml.core.runconfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.spec import Backend


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(name, value, "must be an integer", f"pass {name}=1 or more")
    if value < 1:
        raise InvalidValueError(name, value, "must be at least 1", f"pass {name}=1 or more")
    return value


@dataclass(frozen=True)
class Layout:
    node_count: int
    process_count_per_node: int
    backend: Backend | None


class MpiConfiguration:
    """Ranks started by Open MPI's mpirun (Horovod's path)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def layout(self, node_count: int | None = None) -> Layout:
        nodes = _positive_int("node_count", node_count if node_count is not None else self.node_count)
        return Layout(nodes, _positive_int("process_count_per_node", self.process_count_per_node), Backend.MPI)


class PyTorchConfiguration:
    """torch.distributed per-process launch. `process_count` is the TOTAL over all nodes."""

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None,
                 node_count: int = 1) -> None:
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def layout(self, node_count: int | None = None) -> Layout:
        nodes = _positive_int("node_count", node_count if node_count is not None else self.node_count)
        backend = Backend.parse(self.communication_backend, "communication_backend")
        if backend is Backend.MPI:
            raise InvalidValueError("communication_backend", self.communication_backend,
                                    "is not a torch.distributed backend", "use 'Nccl' or 'Gloo', or MpiConfiguration")
        total = _positive_int("process_count", self.process_count if self.process_count is not None else nodes)
        if total % nodes:
            raise InvalidValueError("process_count", total, f"is not a multiple of node_count={nodes} "
                                    "(process_count is the total over all nodes)",
                                    f"pass process_count={nodes * max(1, total // nodes)}")
        return Layout(nodes, total // nodes, backend)


class _BackendOnly:
    backend: Backend

    def layout(self, node_count: int | None = None, process_count_per_node: int = 1) -> Layout:
        return Layout(_positive_int("node_count", node_count or 1),
                      _positive_int("process_count_per_node", process_count_per_node), self.backend)


class Gloo(_BackendOnly):
    backend = Backend.GLOO


class Nccl(_BackendOnly):
    backend = Backend.NCCL


class Mpi(MpiConfiguration):
    """`azureml.train.dnn.Mpi(process_count_per_node=1)`; node_count comes from the estimator."""


def layout_of(distributed: Any, node_count: int, process_count_per_node: int,
              backend: str | Backend | None, field_name: str = "distributed_training") -> Layout:
    """Reconcile the old form (node_count, process_count_per_node, distributed_backend) with the new one."""
    if distributed is None:
        return Layout(_positive_int("node_count", node_count),
                      _positive_int("process_count_per_node", process_count_per_node),
                      Backend.parse(backend))
    if backend is not None:
        raise InvalidValueError("distributed_backend", backend, f"is given together with {field_name}",
                                f"pass only {field_name}=... (or only distributed_backend)")
    if isinstance(distributed, MpiConfiguration):
        return distributed.layout(node_count if node_count != 1 else None)
    if isinstance(distributed, PyTorchConfiguration):
        return distributed.layout(node_count if node_count != 1 else None)
    if isinstance(distributed, _BackendOnly):
        return distributed.layout(node_count, process_count_per_node)
    raise InvalidTypeError(field_name, distributed, "is not a distributed configuration",
                           "pass Mpi(...), Gloo(), Nccl(), MpiConfiguration(...) or PyTorchConfiguration(...)")


# the service's default images; runyard runs in virtual environments, so they are only names here
DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"


@dataclass
class DockerConfiguration:
    """The service's `docker_runtime_config` (ScriptRunConfig) / `run_config.docker`: use_docker=True runs each rank
    in a container of the environment's image; shm_size (default '2g') and arguments go to `podman/docker run`."""

    use_docker: bool | None = None
    shm_size: str | None = None
    shared_volumes: bool | None = None
    arguments: list[str] | None = None


@dataclass
class HistoryConfiguration:
    output_collection: bool = True
    snapshot_project: bool = True
    directories_to_watch: list[str] = field(default_factory=lambda: ["logs"])


class RunConfiguration:
    """The later SDK's run configuration; ScriptRunConfig reads target, environment and limits from it."""

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None, framework: str = "Python",
                 communicator: str = "None", conda_dependencies: Any = None, **_: Any) -> None:
        from runyard.environments import Environment

        self.script = script
        self.arguments = arguments or []
        self.framework = framework
        self.communicator = communicator
        self.target = "local"
        self.node_count = 1
        self.max_run_duration_seconds: float | None = None
        # runyard's: a failure to inject (a Fault, or 'kill-rank:1@step=50'), to test a script's resilience
        self.fault: Any = None
        # runyard's box scheduler: CPU slots per process, memory per run ('16G'), and the run's queue priority
        self.cpus_per_process: int | None = None
        self.memory: str | int | None = None
        self.priority = 0
        self.environment_variables: dict[str, str] = {}
        self.history = HistoryConfiguration()
        self.docker = DockerConfiguration()
        self.environment = Environment("runyard-default")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        # ScriptRunConfig(distributed_job_config=...) keeps it here, so later edits of run_config are what runs
        self.distributed_job_config: Any = None
