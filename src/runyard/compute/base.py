"""ComputeTarget: where runs execute. A small protocol; one module per backend.

A backend writes `check` (refuse a spec it cannot run, before anything is written), `backend_request`
(the exact request it makes of its backend: the ranks' Popen argv, the sbatch script, the Ray placement
plan) and `launchers` (what the supervisor starts and watches). `dry_run` returns both the supervisor's
command line and that request, as data; `launch` starts the supervisor. `ComputeTarget(workspace=ws, name=...)` looks a
target up by name, as in the service.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

from runyard.errors import ComputeTargetException

if TYPE_CHECKING:
    from runyard.box import Grant
    from runyard.launch.launcher import Launcher
    from runyard.launch.ray_job import RayPlan
    from runyard.run_folder import RunFolder
    from runyard.spec import JobSpec
    from runyard.layout import ConfiguredWorkspace


# the request a backend is sent: each rank's (or mpirun's) argv here, an sbatch script, a Ray placement plan
BackendRequest = Union[tuple[tuple[str, ...], ...], str, "RayPlan"]


@dataclass(frozen=True)
class DryRun:
    supervisor: tuple[str, ...]   # the detached process submit starts
    request: BackendRequest       # what that supervisor asks of the backend


@dataclass(frozen=True)
class ComputeStatus:
    """What the service's `compute_target.get_status()` returned; notebooks print `.serialize()`."""

    provisioning_state: str = "Succeeded"
    allocation_state: str = "Steady"
    current_node_count: int = 0
    target_node_count: int = 0
    node_state_counts: dict[str, int] = field(default_factory=dict)
    vm_size: str = ""
    max_nodes: int = 1

    def serialize(self) -> dict[str, Any]:
        return {"provisioningState": self.provisioning_state, "allocationState": self.allocation_state,
                "currentNodeCount": self.current_node_count, "targetNodeCount": self.target_node_count,
                "nodeStateCounts": dict(self.node_state_counts), "vmSize": self.vm_size,
                "scaleSettings": {"minNodeCount": 0, "maxNodeCount": self.max_nodes}}

    def __str__(self) -> str:
        return self.provisioning_state


class ComputeTarget:
    type = "base"

    def __new__(cls, workspace: ConfiguredWorkspace | None = None, name: str | None = None, **kwargs: Any) -> Any:
        if cls is ComputeTarget:
            if workspace is None or name is None:
                raise ComputeTargetException("ComputeTarget(workspace=ws, name=...) needs both. "
                                             "Fix: pass the workspace and the target's name")
            from runyard.compute.registry import get_target

            return get_target(workspace, name)
        return super().__new__(cls)

    def __init__(self, workspace: ConfiguredWorkspace, name: str, config: dict[str, Any] | None = None) -> None:
        if getattr(self, "_initialized", False):
            return  # already built by the registry (ComputeTarget(ws, name) lands here again)
        self.workspace = workspace
        self.name = name
        self.config = dict(config or {})
        self._initialized = True

    # -- the protocol ---------------------------------------------------------------------------
    def check(self, spec: JobSpec) -> None:
        """Raise ComputeTargetException if this target cannot run `spec`. Writes nothing."""

    def placement(self, spec: JobSpec) -> str:
        """One line for the run's details: where its nodes and ranks run."""
        return f"{spec.resources.node_count} node(s) of compute target {self.name!r}"

    def supervisor_command(self, folder: RunFolder) -> list[str]:
        """The detached process submit starts for a run (it prepares, then drives the launchers)."""
        return [sys.executable, "-m", "runyard.supervisor", str(folder.path)]

    def backend_request(self, folder: RunFolder, spec: JobSpec, interpreter: str) -> BackendRequest:
        raise NotImplementedError

    def dry_run(self, folder: RunFolder, spec: JobSpec, interpreter: str | None = None) -> DryRun:
        """What launching `spec` would start, as data, without starting anything."""
        return DryRun(tuple(self.supervisor_command(folder)),
                      self.backend_request(folder, spec, interpreter or sys.executable))

    def launch(self, folder: RunFolder, spec: JobSpec) -> None:
        """Start the run's supervisor detached; it outlives the submitting process."""
        from runyard.compute.local import spawn_supervisor

        spawn_supervisor(folder, spec, self.supervisor_command(folder))

    def run_folder(self, runs_root: Path, run_id: str) -> RunFolder:
        """Where a run's folder lives (a cluster target puts it where every node sees it)."""
        from runyard.run_folder import RunFolder

        return RunFolder(runs_root / run_id)

    def prepares_images(self, spec: JobSpec) -> bool:
        """Whether a container run's image is pulled or built here, in Preparing (else the nodes get it)."""
        return True

    def environment_root(self, workspace_root: Path) -> Path:
        """Where built environments are cached for this target."""
        return workspace_root / "environments"

    def launchers(self, spec: JobSpec, folder: RunFolder, interpreter: str, base_env: dict[str, str],
                  attempt: int) -> list[Launcher]:
        """What the run's supervisor starts and watches (see launch/launcher.py)."""
        raise NotImplementedError

    def acquire(self, folder: RunFolder, spec: JobSpec, canceled: Callable[[], bool],
                on_reason: Callable[[str], None]) -> Grant | None:
        """Wait (Queued) until the run may start here; what it was granted. A cluster target has its own
        queue (Slurm, Ray) and grants nothing here; the local target keeps the box's (compute/box.py)."""
        return None

    def release(self, run_id: str) -> None:
        """Give back what acquire() granted, once no process of the run is left."""

    def interrupt(self) -> None:
        """Wake a wait in acquire() now (the run was canceled)."""

    def describe_grant(self, grant: Grant) -> dict[str, Any]:
        return {}


    # -- the service's surface --------------------------------------------------------------------
    @staticmethod
    def create(workspace: ConfiguredWorkspace, name: str, provisioning_configuration: Any) -> ComputeTarget:
        from runyard.compute.registry import attach

        return attach(workspace, name, provisioning_configuration)

    @staticmethod
    def attach(workspace: ConfiguredWorkspace, name: str, attach_configuration: Any) -> ComputeTarget:
        from runyard.compute.registry import attach

        return attach(workspace, name, attach_configuration)

    @staticmethod
    def list(workspace: ConfiguredWorkspace) -> list[ComputeTarget]:
        from runyard.compute.registry import all_targets

        return list(all_targets(workspace).values())

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: int = 25, is_delete_operation: bool = False) -> None:
        if show_output:
            print(f"Compute target {self.name!r} ({self.type}) is ready")

    def get_status(self) -> ComputeStatus:
        nodes = self.list_nodes()
        return ComputeStatus(current_node_count=len(nodes), target_node_count=len(nodes),
                             vm_size=str(self.config.get("vm_size", "")),
                             max_nodes=int(self.config.get("max_nodes", max(1, len(nodes)))))

    @property
    def status(self) -> ComputeStatus:
        return self.get_status()

    @property
    def provisioning_state(self) -> str:
        return "Succeeded"

    def list_nodes(self) -> list[dict[str, Any]]:
        return []

    def detach(self) -> None:
        from runyard.compute.registry import detach

        detach(self.workspace, self.name)

    delete = detach

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, **self.config}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
