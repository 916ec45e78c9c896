"""The local target: runs on this machine, one detached supervisor process per run.

| feature                      | supported                                           |
|------------------------------|-----------------------------------------------------|
| node_count > 1               | yes: one node agent per node, all on this machine    |
| process_count_per_node       | yes                                                 |
| use_gpu                      | yes, one whole GPU per rank (by UUID), all or none   |
| cancel / max_run_duration    | yes                                                 |
| queue                        | yes: GPUs, CPU slots, memory, concurrent runs (box)  |

The box scheduler (compute/box.py, box_queue.py) decides when a run starts: its supervisor waits Queued
until the ledger grants everything it asks for, and the grant becomes each rank's CUDA_VISIBLE_DEVICES
and CPU affinity.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from runyard.compute.base import ComputeTarget
from runyard.box import Capacity, GpuDevice, Grant, Request
from runyard.compute.box_settings import BoxSettings
from runyard.errors import ComputeTargetException
from runyard.identity import OWNER_ENV, current_owner
from runyard.launch.launcher import Launcher
from runyard.launch.procs import start_ticks
from runyard.run_folder import RunFolder
from runyard.spec import Backend, FaultKind, JobSpec
from runyard.supervisor_start import enabled, fork_supervisor, served


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gpu_count() -> int:
    """GPUs this machine shows (NVML or nvidia-smi), within CUDA_VISIBLE_DEVICES; never imports torch."""
    from runyard.compute.gpus import discover

    return len(discover())


class LocalCompute(ComputeTarget):
    type = "local"

    def check(self, spec: JobSpec) -> None:
        res = spec.resources
        if spec.fault is not None and spec.fault.kind is FaultKind.KILL_AGENT:
            raise ComputeTargetException(
                f"fault={spec.fault.describe()!r}: compute target {self.name!r} runs its node agents inside the run's "
                "supervisor, so there is no agent process to kill. Fix: use kill-node:N (every rank of node N), or "
                "run it on a Slurm or Ray target")
        if spec.fault is not None and spec.fault.kind in (FaultKind.PARTITION_NODE, FaultKind.DELAY_NODE):
            raise ComputeTargetException(
                f"fault={spec.fault.describe()!r}: compute target {self.name!r} runs every node on this machine's own "
                "network, so no node's link can be cut or slowed alone. Fix: run it on a Slurm or Ray cluster whose "
                "nodes are hosts of their own (scripts/slurm_cluster.sh and scripts/ray_cluster.sh make such test "
                "clusters)")
        max_nodes = self.config.get("max_nodes")
        if max_nodes is not None and res.node_count > int(max_nodes):
            raise ComputeTargetException(
                f"node_count={res.node_count}: compute target {self.name!r} has max_nodes={max_nodes}. "
                f"Fix: pass node_count<={max_nodes}")
        self._check_fits(spec)
        if spec.container is not None:  # no runtime here: refused now, naming what to install
            from runyard.environments.container_runtime import RUNTIME_ENV, ContainerRuntime

            ContainerRuntime.find(os.environ.get(RUNTIME_ENV) or None)
        if spec.backend is Backend.MPI and shutil.which("mpirun") is None:
            raise ComputeTargetException(
                "distributed_backend='mpi': Open MPI's mpirun is not on PATH. "
                "Fix: install it (apt-get install openmpi-bin), or use distributed_backend='gloo'")

    # -- the box: capacity, requests, grants ---------------------------------------------------------
    @property
    def settings(self) -> BoxSettings:
        return BoxSettings.from_config(self.config)

    @property
    def _folder(self) -> Any:
        """The workspace folder (a Workspace facade keeps it as .folder)."""
        return getattr(self.workspace, "folder", None) or self.workspace

    def _devices(self) -> list[GpuDevice]:
        """The GPUs this machine shows, discovered once per target object (NVML or nvidia-smi)."""
        if getattr(self, "_discovered", None) is None:
            from runyard.compute.gpus import discover

            self._discovered = discover()
        return self._discovered

    def capacity(self) -> Capacity:
        """What this target may hand out on this host, as set when it was loaded."""
        return self.settings.capacity(self._devices() if self.settings.gpus != "none" else [])

    def live_capacity(self) -> Capacity:
        """The capacity as the workspace's config says now: a waiting run sees `compute update` at its next look."""
        settings = BoxSettings.from_config(self._folder.config_section("box").get("local", {}))
        return settings.capacity(self._devices() if settings.gpus != "none" else [])

    def request(self, spec: JobSpec, run_id: str, owner: str, submitted: float) -> Request:
        res, capacity = spec.resources, self.capacity()
        cpus = res.world_size * (res.cpus_per_process or 1) if capacity.cpus is not None else 0
        return Request(run_id, owner, spec.priority, submitted, res.gpus, cpus, res.memory_mb or 0)

    def _check_fits(self, spec: JobSpec) -> None:
        """A run that could never start here is refused at submit, with the fix."""
        res, capacity = spec.resources, self.capacity()
        gpus = len(capacity.gpus)
        if res.use_gpu and gpus == 0:
            why = "has no GPU (NVML and nvidia-smi find none)" if self.settings.gpus == "all" else \
                f"hands out no GPU (runyard compute update local --gpus {self.settings.gpus_shown})"
            if spec.backend is Backend.NCCL:
                raise ComputeTargetException(
                    f"communication_backend='nccl': compute target {self.name!r} {why} and NCCL runs only on GPUs. "
                    "Fix: use Gloo on the CPU: PyTorchConfiguration(communication_backend='Gloo', ...) or "
                    "distributed_backend='gloo'")
            raise ComputeTargetException(
                f"use_gpu=True: compute target {self.name!r} {why}. "
                "Fix: pass use_gpu=False to train on the CPU, or submit to a target with GPUs")
        if res.gpus > gpus:
            layout = f"node_count={res.node_count} x process_count_per_node={res.process_count_per_node}"
            raise ComputeTargetException(
                f"process_count_per_node={res.process_count_per_node}: {layout} with use_gpu=True takes "
                f"{res.gpus} GPUs (one whole GPU per rank; NCCL fails with 'Duplicate GPU detected' otherwise), and "
                f"compute target {self.name!r} has {gpus}. Fix: pass process_count_per_node<="
                f"{max(1, gpus // res.node_count)}{' with node_count=1' if res.node_count > 1 else ''}, "
                "or submit to a Slurm or Ray target with more GPUs")
        wanted = self.request(spec, "", "", 0.0)
        if capacity.cpus is not None and wanted.cpus > capacity.cpus:
            raise ComputeTargetException(
                f"cpus_per_process={res.cpus_per_process or 1}: {res.world_size} process(es) x "
                f"{res.cpus_per_process or 1} take {wanted.cpus} CPU slots, and compute target {self.name!r} is "
                f"limited to {capacity.cpus}. Fix: ask for fewer (cpus_per_process / --cpus), or raise the limit: "
                f"runyard compute update local --cpus {wanted.cpus}")
        if capacity.memory_mb is not None and wanted.memory_mb > capacity.memory_mb:
            raise ComputeTargetException(
                f"memory={wanted.memory_mb} MB: compute target {self.name!r} is limited to {capacity.memory_mb} MB. "
                f"Fix: ask for less (memory= / --memory), or raise the limit: runyard compute update local "
                f"--memory {wanted.memory_mb}M")

    def acquire(self, folder: RunFolder, spec: JobSpec, canceled: Callable[[], bool],
                on_reason: Callable[[str], None]) -> Grant | None:
        """Wait Queued until the box grants the run all it asks for; None if it is canceled meanwhile."""
        from runyard.compute.box_queue import BoxQueue

        record = self._folder.store.get_run(folder.run_id)
        self._queue = BoxQueue(self._folder, self.live_capacity)
        self._grant = self._queue.acquire(self.request(spec, folder.run_id, record.owner, record.created_time),
                                          canceled, on_reason)
        return self._grant

    def release(self, run_id: str) -> None:
        queue = getattr(self, "_queue", None)
        if queue is not None:  # once: the ledger forgets the run and the host's waiters look again
            self._queue, self._grant = None, None
            queue.release(run_id)

    def interrupt(self) -> None:
        queue = getattr(self, "_queue", None)
        if queue is not None:
            queue.interrupt()

    def describe_grant(self, grant: Grant) -> dict[str, Any]:
        by_uuid = {d.uuid: d for d in self.capacity().gpus}
        return {"host": socket.gethostname(), "gpus": [{"index": by_uuid[u].index if u in by_uuid else "?", "uuid": u}
                                                       for u in grant.gpus],
                "cores": list(grant.cores), "memoryMb": grant.memory_mb or None}

    def update(self, *, gpus: Any = ..., cpus: Any = ..., memory: Any = ..., max_concurrent_runs: Any = ...,
               foreign_gpus: Any = ...) -> BoxSettings:
        """Change what this box hands out (None removes a limit); checked before anything is written."""
        settings = self.settings.changed(gpus=gpus, cpus=cpus, memory=memory,
                                         max_concurrent_runs=max_concurrent_runs, foreign_gpus=foreign_gpus)
        settings.capacity(self._devices() if settings.gpus != "none" else [])  # naming no device here fails now
        self.workspace.update_config("box", "local", settings.to_config())
        self.config = settings.to_config()
        from runyard.compute.box_queue import host_name, wake_waiters

        host = host_name()  # waiting runs look again with the new settings at once
        wake_waiters(self._folder, host, self._folder.store.box.waiters(host))
        return settings

    def placement(self, spec: JobSpec) -> str:
        res = spec.resources
        where = "this machine" if res.node_count == 1 else \
            f"{res.node_count} nodes simulated on this machine (one node agent each, one rendezvous)"
        return f"{where}, {res.process_count_per_node} process(es) per node"

    def launchers(self, spec: JobSpec, folder: RunFolder, interpreter: str, base_env: dict[str, str],
                  attempt: int) -> list[Launcher]:
        port = free_port()
        grant: Grant | None = getattr(self, "_grant", None)
        if grant is not None and not grant.gpus and self.capacity().gpus:
            base_env = {**base_env, "CUDA_VISIBLE_DEVICES": ""}  # a CPU run on a GPU box sees no GPU it was not given
        if spec.backend is Backend.MPI:
            from runyard.launch.mpi import MpiLauncher

            if grant is not None and grant.gpus:  # Horovod picks its GPU by local rank among the run's own
                base_env = {**base_env, "CUDA_VISIBLE_DEVICES": ",".join(grant.gpus),
                            "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
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
                                      ranks_on_host=spec.resources.world_size, devices=grant.gpus if grant else (),
                                      cores=_cores_per_rank(grant, spec.resources.world_size))
                            for node in range(spec.resources.node_count)]

    def backend_request(self, folder: RunFolder, spec: JobSpec, interpreter: str) -> tuple[tuple[str, ...], ...]:
        """Each rank's argv (or mpirun's), as the launchers would start them."""
        where = {"RUNYARD_RUN_DIR": str(folder.path), "RUNYARD_WORKSPACE": str(folder.path.parent.parent)}
        return tuple(tuple(c) for launcher in self.launchers(spec, folder, interpreter, where, 0)
                     for c in launcher.dry_run())


def _cores_per_rank(grant: Grant | None, world_size: int) -> tuple[tuple[int, ...], ...]:
    """The grant's cores split evenly between the ranks, in rank order (none when CPUs are not limited)."""
    if grant is None or not grant.cores:
        return ()
    each = len(grant.cores) // world_size
    return tuple(tuple(grant.cores[r * each:(r + 1) * each]) for r in range(world_size))


def spawn_supervisor(folder: RunFolder, spec: JobSpec, command: list[str]) -> None:
    """Start the run's supervisor detached (its own session), so it outlives the submitting process."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # so the supervisor imports this runyard
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != package_root]
    env["PYTHONPATH"] = os.pathsep.join([package_root, *rest])  # once: a sweep's trials share its fork server
    env[OWNER_ENV] = current_owner()  # a sweep's trials and a script's child runs record the same submitter
    forked = fork_supervisor(command, folder.path, env, folder.supervisor_log) if enabled() and served(command) else None
    if forked is None:
        with open(folder.supervisor_log, "ab") as log:
            proc = subprocess.Popen(command, cwd=folder.path, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        pid = proc.pid
        # reap it when it ends, so a long-lived submitting process collects no zombies
        threading.Thread(target=proc.wait, name=f"runyard-reap-{proc.pid}", daemon=True).start()
    else:
        pid = forked.pid
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = None
    folder.write_json(folder.supervisor_file, {
        "pid": pid, "create_time": created, "host": socket.gethostname(), "start_ticks": start_ticks(pid),
        "started_by": f"fork server {forked.server_pid}" if forked else "new process"})
