"""The per-node launcher (the role torchrun plays): starts the node's ranks, watches them, stops them.

Each rank gets the torchrun environment contract (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK,
LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK), its own process group, and its own log file.
Unlike torchrun, the agent never imports torch, so ranks start without that second of overhead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from runyard.environments.interpreter import path_with_interpreter
from runyard.launch import reaper
from runyard.launch.expand import JOB_VARIABLES, expand, expandable
from runyard.launch.containers import RankContainers
from runyard.launch.launcher import RankExit
from runyard.launch.network import interface_env, record, route_to
from runyard.launch.network_watch import HeartbeatListener
from runyard.launch.procs import die_with_parent, share_cores, terminate_groups
from runyard.launch.system_sampler import SystemSampler, wanted
from runyard.run_folder import RunFolder
from runyard.spec import JobSpec


class NodeAgent:
    def __init__(self, spec: JobSpec, folder: RunFolder, node_rank: int, master_addr: str, master_port: int,
                 interpreter: str, base_env: Mapping[str, str], attempt: int = 0,
                 ranks_on_host: int | None = None, devices: Sequence[str] = (),
                 cores: Sequence[Sequence[int]] = (), in_container: bool = False) -> None:
        self.spec, self.folder, self.node_rank = spec, folder, node_rank
        # every rank on this machine, other agents' included ("nodes" simulated on one box share its cores)
        self.ranks_on_host = ranks_on_host or spec.resources.process_count_per_node
        self.master_addr, self.master_port = master_addr, master_port
        self.interpreter, self.base_env, self.attempt = interpreter, base_env, attempt
        # what the box granted, by global rank: each rank's GPU (UUID) and its cores (empty: not pinned)
        self.devices, self.cores = tuple(devices), tuple(tuple(c) for c in cores)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.route = route_to(master_addr)  # the address and interface this node's ranks talk on
        # None: the ranks are processes (no Docker settings, or this agent itself runs in the container)
        self.containers = None if in_container else RankContainers.of(spec, base_env)
        self._container_names: list[str] = []
        self._inside: dict[int, int] = {}  # rank -> its container's first process (host pid)
        self._heartbeat: HeartbeatListener | None = None
        self._sampler: SystemSampler | None = None
        self._reaper: int | None = None
        self._exits: dict[int, RankExit] = {}

    def rank_env(self, local_rank: int) -> dict[str, str]:
        res = self.spec.resources
        rank = self.node_rank * res.process_count_per_node + local_rank
        contract = {
            "MASTER_ADDR": self.master_addr, "MASTER_PORT": str(self.master_port),
            "WORLD_SIZE": str(res.world_size), "RANK": str(rank), "LOCAL_RANK": str(local_rank),
            "LOCAL_WORLD_SIZE": str(res.process_count_per_node), "NODE_RANK": str(self.node_rank),
            "GROUP_RANK": str(self.node_rank), "RUNYARD_RANK": str(rank),
            "RUNYARD_ATTEMPT": str(self.attempt), "TORCHELASTIC_RESTART_COUNT": str(self.attempt),
            # the service's Gloo()/Nccl() notebooks pass `--dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD --rank
            # $AZ_BATCHAI_TASK_INDEX` to init_process_group; the task index is the global rank here, which
            # is the node index they meant with one process per node and stays unique with several
            "AZ_BATCHAI_PYTORCH_INIT_METHOD": f"tcp://{self.master_addr}:{self.master_port}",
            "AZ_BATCHAI_TASK_INDEX": str(rank),
        }
        env = {**self.base_env, **contract}
        env.update(interface_env(self.route, env))  # gloo/NCCL on the route to MASTER_ADDR, unless the job chose
        # `python` / `pip` in a command or a subprocess of the script mean the run's environment
        env["PATH"] = path_with_interpreter(self.interpreter, env.get("PATH"))
        if rank < len(self.cores) and self.cores[rank] and "OMP_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = str(len(self.cores[rank]))  # one thread per granted core
        share_cores(env, self.ranks_on_host)
        if res.use_gpu:
            # its own whole GPU, named by UUID: the same device whatever order CUDA would enumerate them in
            env["CUDA_VISIBLE_DEVICES"] = self.devices[rank] if rank < len(self.devices) else str(local_rank)
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        return env

    def _preexec(self, rank: int) -> Callable[[], None]:
        cores = self.cores[rank] if rank < len(self.cores) else ()
        parent = os.getpid()  # this agent: a rank whose agent is already gone by exec time exits at once

        def before_exec() -> None:
            die_with_parent(parent)
            if cores:
                os.sched_setaffinity(0, cores)  # the rank (and what it starts) runs on its granted cores only
        return before_exec

    def command(self, env: dict[str, str]) -> list[str]:
        """The rank's command line; in its container (env then gains what the container needs) when the run
        asks for one."""
        values = expandable(env)
        argv = self.spec.argv(self.interpreter)
        argv = argv if self.spec.shell_command else [*argv[:2], *(expand(a, values) for a in argv[2:])]
        if self.containers is None:
            return argv
        rank = int(env["RANK"])
        name = self.containers.name(self.folder.run_id, self.attempt, rank)
        gpus = [self.devices[rank]] if self.spec.resources.use_gpu and rank < len(self.devices) else []
        return self.containers.wrap(argv, env, str(self.folder.working_dir), name, gpus)

    def dry_run(self) -> list[list[str]]:
        return [self.command(self.rank_env(lr)) for lr in range(self.spec.resources.process_count_per_node)]

    def start(self) -> None:
        if self.route is not None and self.spec.resources.node_count > 1:
            self._heartbeat = HeartbeatListener(self.route.address)  # the supervisor knocks: is this node there?
        record(self.route, interface_env(self.route, self.base_env), self.node_rank, self.master_addr,
               self.folder.spool_dir, self._heartbeat.port if self._heartbeat else None)
        for local_rank in range(self.spec.resources.process_count_per_node):
            env = self.rank_env(local_rank)
            rank = int(env["RANK"])
            command = self.command(env)
            if self.containers is not None:
                self._container_names.append(self.containers.name(self.folder.run_id, self.attempt, rank))
            with open(self.folder.rank_log(rank, self.attempt), "ab") as log:
                proc = subprocess.Popen(
                    command, cwd=self.folder.working_dir, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=self._preexec(rank))
            self.procs[rank] = proc
            # a waiter thread per rank timestamps its exit the moment it happens, so the rank that
            # failed first (the cause) is told apart from the peers that failed because of it
            threading.Thread(target=self._wait, args=(rank, proc), daemon=True).start()
        self._reaper = reaper.spawn(self.pgids)  # if this process dies, what the ranks started dies too
        if wanted(self.base_env) and wanted(os.environ):  # this node's system metrics, sampled here, once
            env = self.rank_env(0)
            self._sampler = SystemSampler(self.folder.spool_dir, self.node_rank, self._rank_pids,
                                          {**env, "CUDA_VISIBLE_DEVICES": ",".join(self.devices) or
                                           env.get("CUDA_VISIBLE_DEVICES", "")}, str(self.folder.working_dir)
                                          ).start()

    def _rank_pids(self) -> dict[int, int]:
        """Each rank's process for the system sampler: in a container, the container's own first process (the
        runtime's client is not where the script runs), found once it runs."""
        pids = {r: p.pid for r, p in self.procs.items()}
        if self.containers is None:
            return pids
        for rank in pids:
            if rank not in self._inside and rank not in self._exits:
                found = self.containers.runtime.main_pid(self.containers.name(self.folder.run_id, self.attempt, rank))
                if found is not None:
                    self._inside[rank] = found
        return {r: self._inside.get(r, pid) for r, pid in pids.items()}

    def _wait(self, rank: int, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        self._exits[rank] = RankExit(rank, code, time.monotonic())

    @property
    def pgids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]  # each rank leads its own session/group

    def started(self) -> bool:
        return bool(self.procs)

    def canceled(self) -> bool:
        return False

    def progress(self) -> str | None:
        return None

    def failure(self) -> RankExit | None:
        failed = [e for e in list(self._exits.values()) if e.returncode != 0]
        return min(failed, key=lambda e: e.at) if failed else None

    def finished(self) -> bool:
        exits = list(self._exits.values())
        return len(exits) == len(self.procs) and all(e.returncode == 0 for e in exits)

    def stop(self, grace: float = 10.0) -> None:
        terminate_groups(self.pgids, grace, children=list(self.procs.values()))
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.containers is not None:  # a runtime client killed mid-way leaves its container behind
            self.containers.runtime.remove(self._container_names)
        reaper.release(self._reaper)
        self.close()

    def close(self) -> None:
        """The attempt is over: the system sampler writes its last window and ends."""
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None


def failed_ranks(folder: RunFolder) -> list[RankExit]:
    """The failures node agents on a cluster reported (see main(): nodes/node_<r>.json)."""
    found = []
    for report in sorted((folder.path / "nodes").glob("node_*.json")):
        data = json.loads(report.read_text())
        found.append(RankExit(int(data["rank"]), int(data["returncode"]), float(data["time"])))
    return found


def interpreter_env(spec: JobSpec, folder: RunFolder, extra: Mapping[str, str]) -> dict[str, str]:
    """What every rank of a run sees, before its rank-specific variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "AZUREML_"))}
    job_variables = {**dict(spec.environment.variables), **dict(spec.environment_variables)}
    env.update(job_variables)
    env[JOB_VARIABLES] = ",".join(sorted(job_variables))
    env.update({
        "PYTHONUNBUFFERED": "1",
        "RUNYARD_RUN_ID": folder.run_id, "RUNYARD_RUN_DIR": str(folder.path),
        "RUNYARD_EXPERIMENT": spec.experiment, "AZUREML_RUN_ID": folder.run_id,
    })
    env.update(extra)
    return env


def main(argv: list[str] | None = None) -> int:
    """`python -m runyard.launch.agent RUN_DIR ...`: one node's agent on a cluster node (srun starts one
    per node). It starts the node's ranks, and exits non-zero when one fails (srun then stops the other
    nodes' agents) after writing which rank failed to nodes/node_<r>.json."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="runyard.launch.agent")
    parser.add_argument("run_dir")
    parser.add_argument("--interpreter", default=sys.executable)
    parser.add_argument("--attempt", type=int, default=0)
    parser.add_argument("--node-rank", type=int, default=int(os.environ.get("SLURM_NODEID", "0")))
    parser.add_argument("--master-addr", default=os.environ.get("MASTER_ADDR", "127.0.0.1"))
    parser.add_argument("--master-port", type=int, default=int(os.environ.get("MASTER_PORT", "29500")))
    parser.add_argument("--in-container", action="store_true",
                        help="this agent already runs in the run's container (pyxis): its ranks are processes")
    args = parser.parse_args(argv)

    folder = RunFolder(args.run_dir)
    spec = JobSpec.from_json(folder.spec_file.read_text())
    env = dict(os.environ)
    store = None
    if spec.resources.node_count > 1:  # node 0's agent hosts the job's rendezvous store, as torchrun's does
        from runyard.launch.rendezvous import AGENT_STORE_ENV, RendezvousHost

        env.update(AGENT_STORE_ENV)
        if args.node_rank == 0:
            store = RendezvousHost(args.interpreter, "0.0.0.0", args.master_port, folder.system_logs /
                              (f"store_attempt_{args.attempt}.txt" if args.attempt else "store.txt"))
            store.start()
    # a job Slurm requeued (preempted, `scontrol requeue`, a lost node) runs this script again: its ranks are a
    # new attempt of the run (their own logs, TORCHELASTIC_RESTART_COUNT), resuming from the checkpoint folder
    attempt = args.attempt + int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    agent = NodeAgent(spec, folder, args.node_rank, args.master_addr, args.master_port, args.interpreter,
                      env, attempt, in_container=args.in_container)
    shipper = None
    if os.environ.get("RUNYARD_SERVER_URL"):  # a node that cannot reach the workspace: ship spools instead
        from runyard.tracking.shipper import SpoolShipper

        from runyard.launch.network import SUBMIT_ADDR_ENV, reachable_url

        url = reachable_url(os.environ["RUNYARD_SERVER_URL"], agent.route, os.environ.get(SUBMIT_ADDR_ENV))
        print(f"node {args.node_rank}: shipping the run's metrics to {url}", flush=True)
        shipper = SpoolShipper(url, folder.run_id, folder.spool_dir, token=os.environ.get("RUNYARD_SERVER_TOKEN")).start()
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    agent.start()
    while not stop_requested.is_set():
        failed = agent.failure()
        if failed is not None or agent.finished():
            break
        stop_requested.wait(0.05)
    failed = agent.failure()
    if not (failed is None and agent.finished()):
        agent.stop()
    agent.close()
    if store is not None:
        store.stop(5.0)
    if shipper is not None:
        shipper.stop()  # what the ranks logged last reaches the server before the node leaves
        print(f"node {args.node_rank}: " + ("the server has every metric logged here" if shipper.last_error is None
                                            else f"metrics left unshipped ({shipper.last_error}); they stay in "
                                                 f"{folder.spool_dir}"), flush=True)
    if failed is None and agent.finished():
        return 0
    report = folder.path / "nodes" / f"node_{args.node_rank}.json"
    report.parent.mkdir(exist_ok=True)
    if failed is not None:
        folder.write_json(report, {"rank": failed.rank, "returncode": failed.returncode, "time": time.time()})
        return 1
    return 143


if __name__ == "__main__":
    import sys

    sys.exit(main())
