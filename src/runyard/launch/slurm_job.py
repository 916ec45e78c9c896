"""A run's Slurm job, watched from the supervisor: sbatch, then squeue / scontrol / sacct, scancel."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from runyard.launch.agent import failed_ranks
from runyard.launch.launcher import JobFailure, RankExit
from runyard.run_folder import RunFolder

POLL_SECONDS = 0.5
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
_FAILED_STATES = {"FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
# a job pending for one of these reasons can never start as submitted
_HOPELESS = {"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "AccountNotAllowed",
             "QOSMaxNodePerJobLimit", "QOSMaxWallDurationPerJobLimit", "InvalidAccount", "InvalidQOS",
             "ReqNodeNotAvail, UnavailableNodes"}
_EXPLAIN = {"TIMEOUT": "hit its time limit", "NODE_FAIL": "lost a node", "PREEMPTED": "was preempted",
            "OUT_OF_MEMORY": "ran out of memory", "BOOT_FAIL": "could not boot a node",
            "DEADLINE": "missed its deadline", "FAILED": "failed"}


class SlurmJob:
    def __init__(self, folder: RunFolder, script: str, env: dict[str, str], attempt: int) -> None:
        self.folder, self.script, self.env, self.attempt = folder, script, env, attempt
        self.job_id: str | None = None
        self.state, self.reason = "", ""
        self._refused: JobFailure | None = None
        self._polled = 0.0
        self._stopping = False
        self.requeued_at: list[float] = []  # when Slurm put the running job back in its queue

    @property
    def pgids(self) -> list[int]:
        return []  # nothing of the job runs in this machine's process groups

    @property
    def script_path(self) -> Path:
        return self.folder.path / f"sbatch_attempt_{self.attempt}.sh"

    def dry_run(self) -> list[list[str]]:
        return [["sbatch", "--parsable", str(self.script_path)]]

    def start(self) -> None:
        path = self.script_path
        path.write_text(self.script)
        done = subprocess.run(self.dry_run()[0], capture_output=True, text=True, env=self.env)
        if done.returncode != 0:
            # the cluster's own words: bad partition, too many nodes, a limit...
            self._refused = JobFailure(f"sbatch refused the job: {(done.stderr or done.stdout).strip()}",
                                       time.monotonic())
            return
        self.job_id = done.stdout.strip().split(";")[0]
        self._poll(force=True)

    # -- state --------------------------------------------------------------------------------------
    def _query(self) -> tuple[str, str]:
        assert self.job_id is not None
        out = subprocess.run(["squeue", "-h", "-j", self.job_id, "-o", "%T|%r"], capture_output=True, text=True,
                             env=self.env).stdout.strip()
        if out:
            state, _, reason = out.partition("|")
            return state, reason
        out = subprocess.run(["scontrol", "show", "job", self.job_id, "-o"], capture_output=True, text=True,
                             env=self.env).stdout
        if m := re.search(r"JobState=(\S+)", out):
            reason = re.search(r"Reason=(\S+)", out)
            return m.group(1), reason.group(1) if reason else ""
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", self.job_id, "-o", "State,Reason"],
                             capture_output=True, text=True, env=self.env).stdout.strip()
        if out:
            state, _, reason = out.splitlines()[0].partition("|")
            return state.split()[0], reason
        return "UNKNOWN", "the job is no longer known to squeue, scontrol or sacct"

    def _poll(self, force: bool = False) -> None:
        if self.job_id is None or (not force and time.monotonic() - self._polled < POLL_SECONDS):
            return
        self._polled = time.monotonic()
        before = self.state
        self.state, self.reason = self._query()
        if before in _RUNNING and (self.state in _PENDING or self.state == "REQUEUED"):
            self.requeued_at.append(time.time())

    def started(self) -> bool:
        self._poll()
        return self.state in _RUNNING or self.state == "COMPLETED"

    def progress(self) -> str | None:
        self._poll()
        if self.state in _PENDING:
            again = (f", requeued {len(self.requeued_at)} time(s): it goes on from the run's last checkpoint when it "
                     "runs again") if self.requeued_at else ""
            return f"slurm job {self.job_id} {self.state} ({self.reason}){again}"
        return None

    def finished(self) -> bool:
        self._poll()
        return self.state == "COMPLETED"

    def canceled(self) -> bool:
        self._poll()
        return self.state == "CANCELLED" and not self._stopping

    def failure(self) -> RankExit | JobFailure | None:
        if self._refused is not None:
            return self._refused
        self._poll()
        if self.state in _PENDING and self.reason in _HOPELESS:
            return JobFailure(f"slurm job {self.job_id} can never start as submitted: {self.state} ({self.reason})",
                              time.monotonic())
        if self.state not in _FAILED_STATES and self.state != "UNKNOWN":
            return None
        ranks = failed_ranks(self.folder)
        if ranks and self.state == "FAILED":
            return min(ranks, key=lambda e: e.at)
        reason = f" ({self.reason})" if self.reason and self.reason != "None" else ""
        lost = f"; {self._lost_nodes()}" if self.state == "NODE_FAIL" else ""
        return JobFailure(f"slurm job {self.job_id} {_EXPLAIN.get(self.state, self.state)}: {self.state}{reason}{lost}",
                          time.monotonic())

    def _lost_nodes(self) -> str:
        """Which of the job's nodes failed, with Slurm's reason (sinfo), for the run's error."""
        shown = subprocess.run(["scontrol", "show", "job", str(self.job_id), "-o"], capture_output=True, text=True,
                               env=self.env, check=False).stdout
        nodes = m.group(1) if (m := re.search(r" NodeList=(\S+)", shown)) else ""
        if not nodes or nodes == "(null)":
            return "Slurm did not say which node"
        listing = subprocess.run(["sinfo", "-h", "-N", "-n", nodes, "-o", "%N|%T|%E"], capture_output=True,
                                 text=True, env=self.env, check=False).stdout
        down = [f"{n} {state} ({why})" for n, state, why in (line.split("|", 2) for line in listing.splitlines()
                                                             if line.count("|") == 2)
                if any(word in state.lower() for word in ("down", "fail", "drain", "not_responding"))]
        return ("lost " + ", ".join(down)) if down else f"its nodes were {nodes}"

    def stop(self, grace: float) -> None:
        if self.job_id is None:
            return
        self._stopping = True
        subprocess.run(["scancel", self.job_id], capture_output=True, env=self.env)
        deadline = time.monotonic() + grace + 10
        while time.monotonic() < deadline:
            self._poll(force=True)
            if self.state not in _PENDING | _RUNNING:
                return
            time.sleep(0.2)
