"""The Ray target: a run becomes a placement group with one bundle per node, and one actor per bundle
that runs runyard's node agent there (the same agent srun starts on Slurm).

| feature                    | how                                                                    |
|----------------------------|------------------------------------------------------------------------|
| node_count                 | bundles in a placement group, STRICT_SPREAD: one Ray node each          |
| process_count_per_node     | the agent starts that many ranks (torchrun's contract)                 |
| use_gpu                    | each bundle asks for one GPU per local rank; CUDA_VISIBLE_DEVICES per rank |
| 'mpi'                      | not supported (refused at submit): Ray does not start mpirun            |
| status                     | pending while the placement group waits for resources, with the reason |
| cancel                     | the agents stop their ranks, then the actors and the group are removed |
| files                      | run folders in `shared_folder` (default: the workspace): every node must see it |

`ComputeTarget.attach(ws, "ray", RayCompute.attach_configuration(address="10.0.0.1:6379"))`; runyard must be
importable by the cluster's Python (install it there, as for Slurm).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard.compute.cluster import ClusterTarget
from runyard.errors import ComputeTargetException, InvalidTypeError, InvalidValueError
from runyard.install_hint import install_extra
from runyard.launch.launcher import Launcher
from runyard.launch.ray_job import RayPlan
from runyard.run_folder import RunFolder
from runyard.spec import Backend, JobSpec


@dataclass(frozen=True)
class RayAttachConfiguration:
    address: str                           # the cluster's GCS address, host:port ("auto": the local one)
    shared_folder: str | None = None       # seen by every node; run folders and environments go here
    python: str | None = None              # the base interpreter on the nodes (default: this one)
    cpus_per_process: float = 1.0          # CPUs each rank reserves in its node's bundle

    def __post_init__(self) -> None:
        if not isinstance(self.address, str) or not self.address.strip():
            raise InvalidValueError("address", self.address, "must name the Ray cluster",
                                    "pass address='HOST:6379' (the head node's GCS port) or 'auto'")
        if self.address.startswith("ray://"):
            raise InvalidValueError("address", self.address, "is a Ray Client address; the supervisor joins the "
                                    "cluster as a driver", "pass the GCS address HOST:6379 instead")
        cpus = self.cpus_per_process
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus < 0:
            raise InvalidTypeError("cpus_per_process", cpus, "must be a number >= 0", "pass cpus_per_process=1")
        if self.shared_folder is not None and not Path(self.shared_folder).is_dir():
            raise InvalidValueError("shared_folder", self.shared_folder, "is not an existing folder",
                                    "create it on the shared filesystem first")

    def to_config(self) -> dict[str, Any]:
        return {"type": "ray", **{k: v for k, v in self.__dict__.items() if v is not None}}


class RayCompute(ClusterTarget):
    type = "ray"

    @staticmethod
    def attach_configuration(address: str, shared_folder: str | None = None, python: str | None = None,
                             cpus_per_process: float = 1.0) -> RayAttachConfiguration:
        return RayAttachConfiguration(address, str(Path(shared_folder).resolve()) if shared_folder else None,
                                      python, cpus_per_process)

    # -- protocol ---------------------------------------------------------------------------------
    def check(self, spec: JobSpec) -> None:
        if spec.backend is Backend.MPI:
            raise ComputeTargetException(
                f"distributed_backend='mpi': Ray target {self.name!r} starts ranks with runyard's node agent, not "
                "mpirun. Fix: use distributed_backend='gloo' or 'nccl', or a local or Slurm target for Horovod")
        if importlib.util.find_spec("ray") is None:  # not imported: that alone costs a second at submit
            raise ComputeTargetException(f"compute_target={self.name!r}: Ray is not installed here. "
                                         "Fix: " + install_extra("ray"))

    def placement(self, spec: JobSpec) -> str:
        return (f"{spec.resources.node_count} Ray node(s) of the cluster at {self.config['address']}, "
                f"{spec.resources.process_count_per_node} process(es) per node")

    def backend_request(self, folder: RunFolder, spec: JobSpec, interpreter: str) -> RayPlan:
        return self.plan(folder, spec, interpreter)

    def plan(self, folder: RunFolder, spec: JobSpec, interpreter: str, attempt: int = 0) -> RayPlan:
        res = spec.resources
        bundle: dict[str, float] = {"CPU": float(self.config.get("cpus_per_process", 1.0)) * res.process_count_per_node}
        if res.use_gpu:
            bundle["GPU"] = float(res.process_count_per_node)
        python = self.config.get("python") or sys.executable
        run_dir = str(folder.path.resolve())
        commands = tuple((python, "-m", "runyard.launch.agent", run_dir, "--interpreter", interpreter,
                          "--attempt", str(attempt), "--node-rank", str(node)) for node in range(res.node_count))
        return RayPlan(tuple(dict(bundle) for _ in range(res.node_count)),
                       "STRICT_SPREAD" if res.node_count > 1 else "PACK", commands)

    def launchers(self, spec: JobSpec, folder: RunFolder, interpreter: str, base_env: dict[str, str],
                  attempt: int) -> list[Launcher]:
        from runyard.launch.ray_job import RayJob

        from runyard.launch.network import SUBMIT_ADDR_ENV, cluster_address

        real = RunFolder(folder.path.resolve())
        env = {**base_env, "RUNYARD_RUN_DIR": str(real.path)}
        head = str(self.config["address"]).removeprefix("ray://").rsplit(":", 1)[0]
        if (address := cluster_address(head)) is not None:  # for nodes that ship metrics back to a server here
            env[SUBMIT_ADDR_ENV] = address
        return [RayJob(real, self.config["address"], self.plan(real, spec, interpreter, attempt), env, attempt)]

    def list_nodes(self) -> list[dict[str, Any]]:
        import ray

        ray.init(address=self.config["address"], logging_level="ERROR", log_to_driver=False,
                 ignore_reinit_error=True)
        try:
            return [{"name": n["NodeManagerAddress"], "state": "alive" if n["Alive"] else "dead",
                     "resources": n.get("Resources", {})} for n in ray.nodes()]
        finally:
            ray.shutdown()
