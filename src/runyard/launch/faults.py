"""Injecting a failure into a run (`--inject`, RunConfiguration.fault), to test a training script's resilience.

A fault at a step of a rank or node is fired by the rank itself when it logs that step (exactly there:
tracking/fault_trigger.py, armed by RUNYARD_FAULT for the attempt it is meant for); the injector here then
only collects what the ranks reported. A fault at a time, or on a node's agent, is fired from here: it
SIGKILLs a rank, every rank of a node, or a node's agent process, or stops a rank for a while (a
straggler). Ranks and agents are found by the RUNYARD_RUN_DIR their environment carries, so any
launcher's processes on this host can be targeted. What was injected, when and to which processes is
returned for the run's record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from runyard.run_folder import RunFolder
from runyard.spec import Fault, FaultKind, JobSpec

POLL_SECONDS = 0.05


def run_processes(folder: RunFolder) -> list[tuple[psutil.Process, dict[str, str]]]:
    """Every live process of this run on this host, with its environment."""
    found = []
    wanted = {str(folder.path), str(folder.path.resolve())}  # a cluster's run folder is a link to the shared one
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE or p.pid == os.getpid():
                continue
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("RUNYARD_RUN_DIR") in wanted:
            found.append((p, env))
    return found


def _agent_node(p: psutil.Process, env: dict[str, str]) -> str | None:
    """The node of a node agent process (`--node-rank N` on Ray, SLURM_NODEID under srun), else None."""
    try:
        argv = p.cmdline()
    except psutil.Error:
        return None
    if "runyard.launch.agent" not in argv:
        return None
    if "--node-rank" in argv[:-1]:
        return argv[argv.index("--node-rank") + 1]
    return env.get("SLURM_NODEID", "0")


class StepWatcher:
    """The highest step a rank has logged in this attempt, read from the spool files it writes."""

    def __init__(self, spool_dir: Path, rank: int, since: float) -> None:
        self.spool_dir, self.rank, self.since = spool_dir, rank, since
        self._offsets: dict[Path, int] = {}
        self.highest = -1

    def poll(self) -> int:
        for path in self.spool_dir.glob(f"rank-{self.rank}.*.jsonl"):
            try:
                if path not in self._offsets and path.stat().st_mtime < self.since:
                    continue  # an earlier attempt's file
                with open(path, "rb") as f:
                    f.seek(self._offsets.get(path, 0))
                    data = f.read()
            except OSError:
                continue
            whole = data[: data.rfind(b"\n") + 1]
            self._offsets[path] = self._offsets.get(path, 0) + len(whole)
            for line in whole.splitlines():
                try:
                    step = json.loads(line)[3]
                except (ValueError, IndexError, TypeError):
                    continue
                if isinstance(step, int) and step > self.highest:
                    self.highest = step
        return self.highest


class FaultInjector:
    def __init__(self, fault: Fault, spec: JobSpec, folder: RunFolder, attempt: int) -> None:
        self.fault, self.spec, self.folder, self.attempt = fault, spec, folder, attempt
        self.started = time.time()
        first_rank = fault.target * spec.resources.process_count_per_node if fault.on_node else fault.target
        self.steps = StepWatcher(folder.spool_dir, first_rank, self.started - 1.0)
        self.report: dict[str, Any] | None = None
        # a step fault of ranks is fired by the ranks themselves (exactly at the step)
        self.in_ranks = fault.at_step is not None and fault.kind in (FaultKind.KILL_RANK, FaultKind.KILL_NODE,
                                                                     FaultKind.DELAY_RANK)
        self._link: NetworkFault | None = None
        self._link_back = threading.Event()  # a network fault without for= lasts until the attempt ends
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="runyard-fault", daemon=True)

    def start(self) -> FaultInjector:
        self._thread.start()
        return self

    def environment(self) -> dict[str, str]:
        """What the attempt's ranks need to fire a step fault themselves."""
        return {"RUNYARD_FAULT": self.fault.describe()} if self.in_ranks else {}

    def _rank_reports(self) -> dict[str, Any] | None:
        found = []
        for path in (self.folder.path / "faults").glob("rank_*.json"):
            try:
                report = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if report.get("time", 0) >= self.started - 1.0:
                found.append(report)
        if not found:
            return None
        return {"fault": self.fault.describe(), "attempt": self.attempt, "injected": True,
                "seconds": round(min(r["time"] for r in found) - self.started, 3),
                "step": min(r["step"] for r in found), "pids": sorted(r["pid"] for r in found),
                "ranks": sorted(r["rank"] for r in found)}

    def stop(self) -> dict[str, Any]:
        """Stop watching; what was injected (or that the moment never came). A network fault with for= lasts
        its time even when the attempt ends first (the link is down, whatever runyard does); then it is undone."""
        self._stop.set()
        if not self.fault.duration:
            self._link_back.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.in_ranks:
            self.report = self._rank_reports()
        return self.report or {"fault": self.fault.describe(), "attempt": self.attempt, "injected": False,
                               "why": "the attempt ended before the fault's moment"}

    def _due(self) -> bool:
        if self.fault.at_seconds is not None:
            return time.time() - self.started >= self.fault.at_seconds
        return self.fault.at_step is not None and self.steps.poll() >= self.fault.at_step

    def _watch(self) -> None:
        if self.in_ranks:
            return
        while not self._stop.wait(POLL_SECONDS):
            if self._due():
                self.report = self._fire()
                return

    def _fire_on_link(self) -> dict[str, Any]:
        """Cut (or slow) the network of the node's host, entered through its agent's network namespace."""
        agents = [p for p, env in run_processes(self.folder) if "RUNYARD_RANK" not in env
                  and _agent_node(p, env) == str(self.fault.target)]
        at = time.time()
        base = {"fault": self.fault.describe(), "attempt": self.attempt, "seconds": round(at - self.started, 3),
                "step": self.steps.highest if self.steps.highest >= 0 else None, "pids": [p.pid for p in agents]}
        if not agents:
            return {**base, "injected": False, "why": f"no node agent of node {self.fault.target} runs on this machine"}
        link = NetworkFault(agents[0].pid, self.fault)
        why = link.apply()
        if why is not None:
            return {**base, "injected": False, "why": why}
        self._link = link
        try:
            self._link_back.wait(self.fault.duration or None)
        finally:
            link.undo()
        return {**base, "injected": True, "restoredAfter": round(time.time() - at, 3)}

    def _targets(self) -> list[psutil.Process]:
        kind, target = self.fault.kind, str(self.fault.target)
        procs = run_processes(self.folder)
        if kind in (FaultKind.KILL_RANK, FaultKind.DELAY_RANK):
            return [p for p, env in procs if env.get("RUNYARD_RANK") == target
                    and env.get("RUNYARD_ATTEMPT", "0") == str(self.attempt)]
        if kind is FaultKind.KILL_NODE:
            return [p for p, env in procs if env.get("NODE_RANK") == target and "RUNYARD_RANK" in env]
        # KILL_AGENT: a cluster node's agent process (`python -m runyard.launch.agent`, one per node)
        return [p for p, env in procs if "RUNYARD_RANK" not in env and _agent_node(p, env) == target]

    def _fire(self) -> dict[str, Any]:
        if self.fault.kind in (FaultKind.PARTITION_NODE, FaultKind.DELAY_NODE):
            return self._fire_on_link()
        targets = self._targets()
        at = time.time()
        for p in targets:
            try:
                p.send_signal(signal.SIGSTOP if self.fault.kind is FaultKind.DELAY_RANK else signal.SIGKILL)
            except psutil.Error:
                pass
        if self.fault.kind is FaultKind.DELAY_RANK:
            self._stop.wait(self.fault.duration)
            for p in targets:
                try:
                    p.send_signal(signal.SIGCONT)
                except psutil.Error:
                    pass
        return {"fault": self.fault.describe(), "attempt": self.attempt, "injected": bool(targets),
                "seconds": round(at - self.started, 3), "step": self.steps.highest if self.steps.highest >= 0 else None,
                "pids": [p.pid for p in targets],
                **({} if targets else {"why": "no process of that rank or node was running then"})}


def first_logged_step(spool_dir: Path, since: float) -> int | None:
    """The lowest first step any rank logged in spool files written since `since` (an attempt's start):
    the step a restarted attempt resumed from. None when its ranks logged no step."""
    firsts = []
    for path in spool_dir.glob("rank-*.jsonl") if spool_dir.is_dir() else []:
        try:
            if path.stat().st_mtime < since:
                continue
            with open(path, "rb") as f:
                for line in f:
                    step = json.loads(line)[3]
                    if isinstance(step, int):
                        firsts.append(step)
                        break
        except (OSError, ValueError, IndexError, TypeError):
            continue
    return min(firsts) if firsts else None


class NetworkFault:
    """A partition (every packet off loopback dropped, both ways) or added latency (tc netem) on the network
    namespace of one node's host, undone afterwards. Needs root, and the node on a host of its own."""

    def __init__(self, pid: int, fault: Fault) -> None:
        self.netns, self.fault = f"/proc/{pid}/ns/net", fault
        self._undo: list[list[str]] = []

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net={self.netns}", *command], capture_output=True, text=True,
                              timeout=30)

    def apply(self) -> str | None:
        """None once applied, else why it could not be."""
        try:
            if os.readlink(self.netns) == os.readlink("/proc/self/ns/net"):
                return (f"node {self.fault.target} shares this host's network: a network fault needs it on a host of "
                        "its own (the test clusters' scripts/hosts.sh)")
        except OSError as e:
            return f"the node's network namespace cannot be read: {e}"
        if self.fault.kind is FaultKind.PARTITION_NODE:
            steps = [["iptables", "-I", "INPUT", "1", "!", "-i", "lo", "-j", "DROP"],
                     ["iptables", "-I", "OUTPUT", "1", "!", "-o", "lo", "-j", "DROP"]]
            undo = [["iptables", "-D", "INPUT", "!", "-i", "lo", "-j", "DROP"],
                    ["iptables", "-D", "OUTPUT", "!", "-o", "lo", "-j", "DROP"]]
        else:
            links = [line.split(": ")[1].split("@")[0] for line in self._run("ip", "-o", "link", "show").stdout
                     .splitlines() if ": " in line and not line.split(": ")[1].startswith("lo")]
            steps = [["tc", "qdisc", "add", "dev", link, "root", "netem", "delay", f"{self.fault.delay_ms:g}ms"]
                     for link in links]
            undo = [["tc", "qdisc", "del", "dev", link, "root"] for link in links]
        for step, back in zip(steps, undo):
            done = self._run(*step)
            if done.returncode != 0:
                self.undo()
                return f"{' '.join(step)} failed: {(done.stderr or done.stdout).strip()}"
            self._undo.append(back)
        return None

    def undo(self) -> None:
        for back in reversed(self._undo):
            self._run(*back)
        self._undo = []
