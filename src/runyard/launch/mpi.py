"""The 'mpi' backend: Open MPI's mpirun starts every rank (the service's Horovod path).

Each rank sees OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE from mpirun, the service's
AZ_BATCH_MASTER_NODE (several nodes, `ip:port`) or AZ_BATCHAI_MPI_MASTER_NODE (one node), and the
torch.distributed contract (MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK) set by mpi_rank.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping

from runyard.launch import reaper
from runyard.launch.launcher import RankExit
from runyard.environments.interpreter import path_with_interpreter
from runyard.launch.system_sampler import SystemSampler, wanted
from runyard.launch.procs import die_with_this_process, share_cores, terminate_groups
from runyard.run_folder import RunFolder
from runyard.spec import JobSpec

# mpirun: "The first process to do so was:\n  Process name: [[4242,1],2]\n  Exit code: 3"
_FIRST_FAILED = re.compile(r"Process name:\s*\[\[\d+,\d+\],(\d+)\]\s*Exit code:\s*(\d+)", re.S)
_KILLED = re.compile(r"Process name:\s*\[\[\d+,\d+\],(\d+)\].*?Signal:\s*\w+ \((\d+)\)", re.S)


class MpiLauncher:
    def __init__(self, spec: JobSpec, folder: RunFolder, master_addr: str, master_port: int, interpreter: str,
                 base_env: Mapping[str, str], attempt: int = 0) -> None:
        self.spec, self.folder, self.attempt = spec, folder, attempt
        self.master_addr, self.master_port = master_addr, master_port
        self.interpreter, self.base_env = interpreter, base_env
        self.proc: subprocess.Popen[bytes] | None = None
        self._reaper: int | None = None
        self._exit: tuple[int, float] | None = None

    @property
    def log_path(self) -> os.PathLike[str]:
        return self.folder.system_logs / (f"mpirun_attempt_{self.attempt}.txt" if self.attempt else "mpirun.txt")

    def env(self) -> dict[str, str]:
        res = self.spec.resources
        env = {**self.base_env, "MASTER_ADDR": self.master_addr, "MASTER_PORT": str(self.master_port),
               "WORLD_SIZE": str(res.world_size), "LOCAL_WORLD_SIZE": str(res.process_count_per_node),
               "RUNYARD_ATTEMPT": str(self.attempt), "TORCHELASTIC_RESTART_COUNT": str(self.attempt),
               "PATH": path_with_interpreter(self.interpreter, self.base_env.get("PATH"))}
        if res.node_count > 1:
            env["AZ_BATCH_MASTER_NODE"] = f"{self.master_addr}:{self.master_port}"
        else:
            env["AZ_BATCHAI_MPI_MASTER_NODE"] = self.master_addr
        share_cores(env, res.world_size)  # mpirun here starts every rank on this machine
        if os.geteuid() == 0:  # Open MPI refuses root unless told twice
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return env

    def command(self) -> list[str]:
        res = self.spec.resources
        mpirun = shutil.which("mpirun") or "mpirun"
        return [mpirun, "-np", str(res.world_size), "--oversubscribe", "--bind-to", "none",
                "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
                self.interpreter, "-m", "runyard.launch.mpi_rank", str(self.folder.path), str(self.attempt),
                str(res.process_count_per_node), "1" if res.use_gpu else "0",
                *(["--container"] if self.spec.container is not None else []), "--",
                *self.spec.argv(self.interpreter)]

    def dry_run(self) -> list[list[str]]:
        return [self.command()]

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.folder.working_dir, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=die_with_this_process())
        threading.Thread(target=self._wait, daemon=True).start()
        self._reaper = reaper.spawn([self.proc.pid])  # mpirun's group, if this process dies
        env = self.env()
        if wanted(env) and wanted(os.environ):  # every rank runs under this mpirun here: its tree is the job
            pid = self.proc.pid
            self._sampler = SystemSampler(self.folder.spool_dir, 0, lambda: {0: pid}, env,
                                          str(self.folder.working_dir)).start()

    def _wait(self) -> None:
        assert self.proc is not None
        self._exit = (self.proc.wait(), time.monotonic())

    @property
    def pgids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def started(self) -> bool:
        return self.proc is not None

    def canceled(self) -> bool:
        return False

    def progress(self) -> str | None:
        return None

    def failure(self) -> RankExit | None:
        if self._exit is None or self._exit[0] == 0:
            return None
        code, at = self._exit
        text = open(self.log_path, errors="replace").read()
        if m := _FIRST_FAILED.search(text):
            return RankExit(int(m.group(1)), int(m.group(2)), at)
        if m := _KILLED.search(text):
            return RankExit(int(m.group(1)), -int(m.group(2)), at)
        return RankExit(0, code, at)  # mpirun itself failed; its log says why

    def finished(self) -> bool:
        return self._exit is not None and self._exit[0] == 0

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        terminate_groups(self.pgids, grace, children=[self.proc])
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        reaper.release(self._reaper)
        self.close()

    def close(self) -> None:
        """The attempt is over: the system sampler writes its last window and ends."""
        sampler, self._sampler = getattr(self, "_sampler", None), None
        if sampler is not None:
            sampler.stop()
