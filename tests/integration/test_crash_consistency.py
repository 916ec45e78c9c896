"""Crash consistency: SIGKILL the supervisor or a rank at many random moments of a run's life (preparing,
running, ingesting, finalizing, after the end) and check the invariants each time:

1. the run ends in a terminal status when it is next read;
2. every metric line the rank flushed before the kill is stored, and nothing is stored twice;
3. no process of the run is left;
4. the workspace opens and lists its runs.

RUNYARD_KILL_POINTS sets how many kills (default 200); the runs go four at a time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from runyard import Experiment, Workspace
from runyard.core import ScriptRunConfig
from runyard.status import RunStatus
from tests.conftest import processes_of

pytestmark = pytest.mark.integration
KILL_POINTS = int(os.environ.get("RUNYARD_KILL_POINTS", "200"))

# logs step i, flushes every 10 steps and then writes the last flushed step to a ledger (fsync'd), so the
# test knows which lines were on disk before the kill
SCRIPT = """
import os, sys, time
from runyard import Run
run = Run.get_context()
ledger = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(120):
    run.log('x', float(i), step=i)
    if i % 10 == 9:
        run.flush()
        os.write(ledger, f'{i}\\n'.encode())
        os.fsync(ledger)
    time.sleep(0.004)
"""


def _flushed(ledger: Path) -> int:
    """The last step known to be in the spool file before the kill (-1: none)."""
    try:
        lines = ledger.read_text().split()
    except FileNotFoundError:
        return -1
    return int(lines[-1]) if lines else -1


def _rank_pids(run) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            if (p.info["environ"] or {}).get("RUNYARD_RUN_ID") == run.id:
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


def _one_kill(workspace, src: Path, ledgers: Path, index: int, rng: random.Random) -> str | None:
    """Run, kill something at a random moment, check the invariants; the violation, or None."""
    ledger = ledgers / f"ledger-{index}.txt"
    target = rng.choice(["supervisor", "rank"])
    delay = rng.uniform(0.0, 1.2)
    run = Experiment(workspace, "crash").submit(ScriptRunConfig(str(src), "train.py", arguments=[str(ledger)]))
    time.sleep(delay)
    killed = "nothing (already gone)"
    if target == "supervisor":
        info = run.folder.read_json(run.folder.supervisor_file)
        if info is not None:
            try:
                os.kill(int(info["pid"]), signal.SIGKILL)
                killed = "supervisor"
            except ProcessLookupError:
                pass
    else:
        for pid in _rank_pids(run):
            try:
                os.kill(pid, signal.SIGKILL)
                killed = "rank"
            except ProcessLookupError:
                pass
    flushed = _flushed(ledger)
    where = f"kill {index}: {killed} at {delay:.3f}s"
    deadline = time.monotonic() + 30
    while not RunStatus(run.get_status()).is_terminal():
        if time.monotonic() > deadline:
            return f"{where}: still {run.get_status()} after 30 s"
        time.sleep(0.05)
    steps = workspace.store.metric_series(run.id, "x", 0).steps.tolist()
    if len(steps) != len(set(steps)):
        return f"{where}: a metric line was stored twice ({len(steps)} points, {len(set(steps))} distinct)"
    if steps != list(range(len(steps))):
        return f"{where}: stored steps are not 0..n-1 in order: {steps[:5]}...{steps[-5:]}"
    if len(steps) - 1 < flushed:
        return f"{where}: step {flushed} was flushed before the kill but only {len(steps)} points are stored"
    deadline = time.monotonic() + 10
    while _rank_pids(run) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _rank_pids(run):
        return f"{where}: a rank process outlived the run"
    return None


def test_kill_at_random_moments_keeps_every_invariant(workspace, project, tmp_path):
    src = project("train.py", SCRIPT)
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    rng = random.Random(20261202)
    seeds = [rng.random() for _ in range(KILL_POINTS)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: _one_kill(workspace, src, ledgers, i, random.Random(seeds[i])),
                                range(KILL_POINTS)))
    violations = [r for r in results if r is not None]
    took = time.monotonic() - started
    reopened = Workspace(workspace.path, create=False)
    runs = reopened.store.list_runs(experiment="crash")
    statuses = {s.value: sum(1 for r in runs if r.status is s) for s in RunStatus if any(r.status is s for r in runs)}
    print(json.dumps({"kill_points": KILL_POINTS, "violations": len(violations), "seconds": round(took, 1),
                      "final_statuses": statuses}))
    assert not violations, "\n".join(violations[:10])
    assert len(runs) == KILL_POINTS and all(r.status.is_terminal() for r in runs)
    deadline = time.monotonic() + 10
    while processes_of(workspace.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_of(workspace.path)
