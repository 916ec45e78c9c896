"""The Slurm target: a run becomes one sbatch job; srun starts one runyard node agent per node.

| feature                    | how                                                                    |
|----------------------------|------------------------------------------------------------------------|
| node_count                 | `--nodes`, one agent per node (`srun --ntasks-per-node=1`)             |
| process_count_per_node     | the agent starts that many ranks (torchrun's contract)                 |
| use_gpu                    | `--gres=gpu:<gpus_per_node>`, one GPU per local rank                   |
| 'mpi'                      | mpirun inside the allocation                                           |
| status                     | squeue, then scontrol / sacct; Slurm's state and reason on the run     |
| cancel                     | scancel                                                                |
| files                      | the run folder lives in `shared_folder`, which every node must see     |

`ComputeTarget.attach(ws, "cluster", SlurmCompute.attach_configuration(partition="gpu", shared_folder=...))`.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.compute.cluster import ClusterTarget
from runyard.compute.slurm_containers import SlurmContainers, choose, pyxis_srun_options, runtime_binary
from runyard.errors import ComputeTargetException, InvalidValueError
from runyard.launch.launcher import Launcher
from runyard.run_folder import RunFolder
from runyard.spec import Backend, JobSpec


@dataclass(frozen=True)
class SlurmAttachConfiguration:
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str | None = None          # sbatch --time syntax, e.g. "02:00:00"
    gpus_per_node: int = 0
    sbatch_options: tuple[str, ...] = field(default_factory=tuple)
    shared_folder: str | None = None       # seen by every node; run folders and environments go here
    python: str | None = None              # the base interpreter on the nodes (default: this one)
    containers: str = "auto"               # for runs in containers: auto, pyxis, apptainer, podman, docker

    def __post_init__(self) -> None:
        if isinstance(self.gpus_per_node, bool) or not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            raise InvalidValueError("gpus_per_node", self.gpus_per_node, "must be an integer >= 0",
                                    "pass the number of GPUs each node has, e.g. gpus_per_node=8")
        for option in self.sbatch_options:
            if not str(option).startswith("--"):
                raise InvalidValueError("sbatch_options", option, "is not a long sbatch option",
                                        "pass options such as '--constraint=a100' or '--mem=64G'")
        SlurmContainers.parse(self.containers)
        if self.shared_folder is not None and not Path(self.shared_folder).is_dir():
            raise InvalidValueError("shared_folder", self.shared_folder, "is not an existing folder",
                                    "create it on the shared filesystem first")

    def to_config(self) -> dict[str, Any]:
        config = {k: v for k, v in self.__dict__.items() if v not in (None, (), 0, "auto")}
        config["sbatch_options"] = list(self.sbatch_options)
        return {"type": "slurm", **config}


class SlurmCompute(ClusterTarget):
    type = "slurm"

    @staticmethod
    def attach_configuration(partition: str | None = None, account: str | None = None, qos: str | None = None,
                             time_limit: str | None = None, gpus_per_node: int = 0,
                             sbatch_options: list[str] | tuple[str, ...] = (), shared_folder: str | None = None,
                             python: str | None = None, containers: str = "auto") -> SlurmAttachConfiguration:
        return SlurmAttachConfiguration(partition, account, qos, time_limit, gpus_per_node, tuple(sbatch_options),
                                        str(Path(shared_folder).resolve()) if shared_folder else None, python,
                                        containers)

    # -- protocol ---------------------------------------------------------------------------------
    def check(self, spec: JobSpec) -> None:
        if spec.container is not None:
            self.prepares_images(spec)  # no way to run containers, or a Dockerfile it cannot build: refused now
        gpus = int(self.config.get("gpus_per_node", 0))
        if spec.resources.use_gpu and gpus == 0:
            raise ComputeTargetException(
                f"use_gpu=True: Slurm target {self.name!r} was attached without gpus_per_node. "
                "Fix: attach it again with gpus_per_node=N, or pass use_gpu=False")
        if spec.resources.use_gpu and spec.resources.process_count_per_node > gpus:
            raise ComputeTargetException(
                f"process_count_per_node={spec.resources.process_count_per_node}: Slurm target {self.name!r} has "
                f"{gpus} GPU(s) per node and each rank needs its own. Fix: pass process_count_per_node<={gpus}")

    def _containers(self) -> SlurmContainers:
        return choose(SlurmContainers.parse(self.config.get("containers")))

    def prepares_images(self, spec: JobSpec) -> bool:
        """pyxis and Apptainer pull the image on each node themselves; Podman and Docker use what Preparing made
        ready (on a cluster whose nodes share this machine's image storage, or pull it by name)."""
        way = self._containers()
        if spec.container is not None and spec.container.dockerfile and way in (SlurmContainers.PYXIS,
                                                                                SlurmContainers.APPTAINER):
            raise ComputeTargetException(f"docker.base_dockerfile: Slurm target {self.name!r} runs containers with "
                                         f"{way.value}, which does not build Dockerfiles. Fix: build the image, push "
                                         "it to a registry the nodes reach, and name it in docker.base_image")
        if spec.container is not None and way is SlurmContainers.PYXIS and spec.backend is Backend.MPI:
            raise ComputeTargetException(f"distributed_backend='mpi': Slurm target {self.name!r} runs containers with "
                                         "pyxis, and runyard starts MPI ranks with the host's mpirun. Fix: attach it "
                                         "with containers='apptainer' (or 'podman'), or use distributed_backend='gloo'")
        return way not in (SlurmContainers.PYXIS, SlurmContainers.APPTAINER)

    def placement(self, spec: JobSpec) -> str:
        partition = self.config.get("partition") or "the default partition"
        return (f"{spec.resources.node_count} Slurm node(s) in {partition}, "
                f"{spec.resources.process_count_per_node} process(es) per node")

    def backend_request(self, folder: RunFolder, spec: JobSpec, interpreter: str) -> str:
        return self.sbatch_script(folder, spec, interpreter)

    def sbatch_script(self, folder: RunFolder, spec: JobSpec, interpreter: str, attempt: int = 0,
                      image: str | None = None) -> str:
        run_dir = folder.path.resolve()
        res = spec.resources
        python = self.config.get("python") or sys.executable
        q = shlex.quote
        lines = ["#!/bin/bash",
                 f"#SBATCH --job-name=runyard-{folder.run_id}",
                 f"#SBATCH --nodes={res.node_count}",
                 "#SBATCH --ntasks-per-node=1",
                 f"#SBATCH --output={run_dir}/system_logs/slurm-%j.txt",
                 "#SBATCH --open-mode=append",
                 f"#SBATCH --chdir={run_dir}/wd"]
        for option, key in (("partition", "partition"), ("account", "account"), ("qos", "qos"),
                            ("time", "time_limit")):
            if self.config.get(key):
                lines.append(f"#SBATCH --{option}={self.config[key]}")
        if res.use_gpu:
            lines.append(f"#SBATCH --gres=gpu:{self.config['gpus_per_node']}")
        lines += [f"#SBATCH {option}" for option in self.config.get("sbatch_options", [])]
        lines += [
            "set -euo pipefail",
            'first_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            "# NodeAddr, not the node name: the name need not resolve (it does not on a test cluster)",
            'export MASTER_ADDR=$(scontrol show node "$first_node" -o | sed -n \'s/.* NodeAddr=\\([^ ]*\\).*/\\1/p\')',
            "export MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))",
            "# each node agent sets GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME and TP_SOCKET_IFNAME (unless the job does) to "
            "its interface on the route to MASTER_ADDR, and records it as runyard.network.node<N>",
        ]
        if spec.backend is Backend.MPI and spec.container is not None:
            way = runtime_binary(self._containers())
            lines.append(f"# MPI ranks in containers: host mpirun starts each rank with {way}")
            lines.append(f"export RUNYARD_CONTAINER_RUNTIME={q(way)}")
        if spec.backend is Backend.MPI:
            # Open MPI's TCP transports on the network of the route to the first node, on every node (one value)
            lines.append(f"net=$({q(python)} -m runyard.launch.network cidr \"$MASTER_ADDR\")")
            lines.append('[ "$(id -u)" != 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1')
            lines.append(
                f"exec mpirun -np {res.world_size} --map-by ppr:{res.process_count_per_node}:node --bind-to none "
                '--mca btl_tcp_if_include "$net" --mca oob_tcp_if_include "$net" '
                f"{q(python)} -m runyard.launch.mpi_rank {q(str(run_dir))} {attempt} {res.process_count_per_node} "
                f"{1 if res.use_gpu else 0} {'--container ' if spec.container is not None else ''}-- "
                + " ".join(q(a) for a in spec.argv(interpreter)))
        elif spec.container is not None and self._containers() is SlurmContainers.PYXIS:
            image = image or spec.container.image
            lines.append("# ranks in containers through pyxis: the node agent runs in the image (its python3)")
            lines.append(f"exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 "
                         f"{pyxis_srun_options(spec.container, image, str(run_dir), str(run_dir.parent.parent))} "
                         f"python3 -m runyard.launch.agent {q(str(run_dir))} --interpreter python3 "
                         f"--attempt {attempt} --in-container")
        else:
            if spec.container is not None:
                way = runtime_binary(self._containers())
                lines.append(f"# ranks in containers: the node agent starts each with {way} on its node")
                lines.append(f"export RUNYARD_CONTAINER_RUNTIME={q(way)}")
            lines.append(f"exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 {q(python)} -m runyard.launch.agent "
                         f"{q(str(run_dir))} --interpreter {q(interpreter)} --attempt {attempt}")
        return "\n".join(lines) + "\n"

    def launchers(self, spec: JobSpec, folder: RunFolder, interpreter: str, base_env: dict[str, str],
                  attempt: int) -> list[Launcher]:
        from runyard.launch.slurm_job import SlurmJob

        real = RunFolder(folder.path.resolve())
        env = {**base_env, "RUNYARD_RUN_DIR": str(real.path), **_submit_addr()}
        env.pop("SLURM_JOB_ID", None)
        image = base_env.get("RUNYARD_CONTAINER_IMAGE")
        return [SlurmJob(real, self.sbatch_script(real, spec, interpreter, attempt, image), env, attempt)]

    def list_nodes(self) -> list[dict[str, Any]]:
        import subprocess

        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N|%T|%c"], capture_output=True, text=True,
                             env={**os.environ}).stdout
        return [dict(zip(("name", "state", "cpus"), line.split("|"))) for line in out.splitlines() if line]


def _submit_addr() -> dict[str, str]:
    """This machine's address on the route to the controller, for nodes that ship metrics back (see
    launch/network.reachable_url); nothing when it cannot be told."""
    import subprocess

    from runyard.launch.network import SUBMIT_ADDR_ENV, cluster_address

    try:
        config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    for line in config.splitlines():
        if line.replace(" ", "").startswith(("SlurmctldAddr=", "SlurmctldHost[0]=")):
            value = line.split("=", 1)[1].strip()
            host = value.split("(", 1)[1].rstrip(")") if "(" in value else value
            address = cluster_address(host) if host and host != "(null)" else None
            if address:
                return {SUBMIT_ADDR_ENV: address}
    return {}
