"""The local target: runs on this machine, one detached supervisor process per run.

| feature                      | supported                                           |
|------------------------------|-----------------------------------------------------|
| node_count > 1               | yes: one node agent per node, all on this machine    |
| process_count_per_node       | yes                                                 |
| use_gpu                      | yes, one GPU per local rank; refused without GPUs    |
| cancel / max_run_duration    | yes                                                 |
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import psutil

from runyard.compute.base import ComputeTarget
from runyard.errors import ComputeTargetException
from runyard.identity import OWNER_ENV, current_owner
from runyard.launch.launcher import Launcher
from runyard.run_folder import RunFolder
from runyard.spec import Backend, FaultKind, JobSpec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gpu_count() -> int:
    """GPUs this machine shows (nvidia-smi), limited by CUDA_VISIBLE_DEVICES; never imports torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return min(count, len(visible.split(","))) if visible else count


class LocalCompute(ComputeTarget):
    type = "local"

    def check(self, spec: JobSpec) -> None:
        res = spec.resources
        if spec.fault is not None and spec.fault.kind is FaultKind.KILL_AGENT:
            raise ComputeTargetException(
                f"fault={spec.fault.describe()!r}: compute target {self.name!r} runs its node agents inside the run's "
                "supervisor, so there is no agent process to kill. Fix: use kill-node:N (every rank of node N), or "
                "run it on a Slurm or Ray target")
        max_nodes = self.config.get("max_nodes")
        if max_nodes is not None and res.node_count > int(max_nodes):
            raise ComputeTargetException(
                f"node_count={res.node_count}: compute target {self.name!r} has max_nodes={max_nodes}. "
                f"Fix: pass node_count<={max_nodes}")
        if res.use_gpu:
            gpus = gpu_count()
            if gpus == 0 and spec.backend is Backend.NCCL:
                raise ComputeTargetException(
                    f"communication_backend='nccl': compute target {self.name!r} has no GPU (nvidia-smi finds "
                    "none) and NCCL runs only on GPUs. Fix: use Gloo on the CPU: "
                    "PyTorchConfiguration(communication_backend='Gloo', ...) or distributed_backend='gloo'")
            if gpus == 0:
                raise ComputeTargetException(
                    f"use_gpu=True: compute target {self.name!r} has no GPU (nvidia-smi finds none). "
                    "Fix: pass use_gpu=False to train on the CPU, or submit to a target with GPUs")
            if res.process_count_per_node > gpus:
                raise ComputeTargetException(
                    f"process_count_per_node={res.process_count_per_node}: compute target {self.name!r} has "
                    f"{gpus} GPU(s) and each rank needs its own (NCCL fails with 'Duplicate GPU detected'). "
                    f"Fix: pass process_count_per_node<={gpus}")
        if spec.backend is Backend.MPI and shutil.which("mpirun") is None:
            raise ComputeTargetException(
                "distributed_backend='mpi': Open MPI's mpirun is not on PATH. "
                "Fix: install it (apt-get install openmpi-bin), or use distributed_backend='gloo'")

    def placement(self, spec: JobSpec) -> str:
        res = spec.resources
        where = "this machine" if res.node_count == 1 else \
            f"{res.node_count} nodes simulated on this machine (one node agent each, one rendezvous)"
        return f"{where}, {res.process_count_per_node} process(es) per node"

    def launchers(self, spec: JobSpec, folder: RunFolder, interpreter: str, base_env: dict[str, str],
                  attempt: int) -> list[Launcher]:
        port = free_port()
        if spec.backend is Backend.MPI:
            from runyard.launch.mpi import MpiLauncher

            return [MpiLauncher(spec, folder, "127.0.0.1", port, interpreter, base_env, attempt)]
        from runyard.launch.agent import NodeAgent
        from runyard.launch.rendezvous import AGENT_STORE_ENV, RendezvousHost

        launchers: list[Launcher] = []
        if spec.resources.node_count > 1:
            # several agents: the store lives outside every rank (as under torchrun), so no node's rank 0
            # takes it away from the others. One node keeps rank 0 as host: no extra torch import at start.
            log = folder.system_logs / (f"store_attempt_{attempt}.txt" if attempt else "store.txt")
            launchers.append(RendezvousHost(interpreter, "127.0.0.1", port, log))
            base_env = {**base_env, **AGENT_STORE_ENV}
        # one agent per node, all on this machine: one rendezvous, distinct NODE_RANKs
        return launchers + [NodeAgent(spec, folder, node, "127.0.0.1", port, interpreter, base_env, attempt,
                                      ranks_on_host=spec.resources.world_size)
                            for node in range(spec.resources.node_count)]

    def backend_request(self, folder: RunFolder, spec: JobSpec, interpreter: str) -> tuple[tuple[str, ...], ...]:
        """Each rank's argv (or mpirun's), as the launchers would start them."""
        return tuple(tuple(c) for launcher in self.launchers(spec, folder, interpreter, {}, 0)
                     for c in launcher.dry_run())


def spawn_supervisor(folder: RunFolder, spec: JobSpec, command: list[str]) -> None:
    """Start the run's supervisor detached (its own session), so it outlives the submitting process."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # so the supervisor imports this runyard
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env[OWNER_ENV] = current_owner()  # a sweep's trials and a script's child runs record the same submitter
    with open(folder.supervisor_log, "ab") as log:
        proc = subprocess.Popen(command, cwd=folder.path, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = None
    folder.write_json(folder.supervisor_file, {"pid": proc.pid, "create_time": created, "host": socket.gethostname()})
    # reap it when it ends, so a long-lived submitting process collects no zombies
    threading.Thread(target=proc.wait, name=f"runyard-reap-{proc.pid}", daemon=True).start()
