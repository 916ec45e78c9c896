"""Surviving failures: faults injected on purpose (a killed rank, a killed node, a straggler, a failed build),
and restarts that resume from the run's checkpoint folder to the same bits as an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runyard import Experiment
from runyard.errors import InvalidValueError
from runyard.train.dnn import PyTorch
from tests.ddp_jobs import RESUMABLE as DDP
from tests.ddp_jobs import same_final_bits

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "runyard.cli.main"]

STEPS = """
import time
from runyard import Run
run = Run.get_context()
for step in range(12):
    run.log("t", time.time(), step=step)
    time.sleep(0.1)
"""


def _ddp(src, **kw):
    return PyTorch(str(src), entry_script="train.py", node_count=2, process_count_per_node=2,
                   distributed_backend="gloo", **kw)


def test_a_killed_rank_restarts_from_the_checkpoint_to_the_same_bits_as_an_uninterrupted_run(
        workspace, project, tmp_path):
    src = project("train.py", DDP)
    # the script keeps snapshot.pt in its working folder, as pytorch/examples' ddp-tutorial-series does
    plain = Experiment(workspace, "resume").submit(_ddp(src, script_params={"--cwd-snapshot": ""}))
    hit = Experiment(workspace, "resume").submit(_ddp(src, script_params={"--cwd-snapshot": ""}, max_restarts=1,
                                                      fault="kill-rank:1@step=50"))
    plain.wait_for_completion(raise_on_error=True)
    hit.wait_for_completion(raise_on_error=True)
    props = hit.get_properties()
    fault = json.loads(props["runyard.fault"])
    assert fault["injected"] and fault["step"] >= 50 and len(fault["pids"]) == 1
    first, second = json.loads(props["runyard.attempt.0"]), json.loads(props["runyard.attempt.1"])
    assert "rank 1" in first["outcome"] and second["outcome"] == "completed"
    assert second["resumedFromStep"] % 10 == 0 and 50 <= second["resumedFromStep"] <= fault["step"] + 1
    assert same_final_bits(plain, hit, tmp_path)
    assert "attempt.1" not in plain.get_properties() and "runyard.attempt.0" in plain.get_properties()


def test_a_killed_rank_without_restarts_fails_the_run_naming_it_and_the_fault(workspace, project):
    src = project("train.py", DDP)
    run = Experiment(workspace, "faults").submit(_ddp(src, fault="kill-rank:3@step=20"))
    run.wait_for_completion(raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Failed"
    assert "rank 3" in details["error"]["error"]["message"]
    assert json.loads(run.get_properties()["runyard.fault"])["injected"]


def test_killing_a_node_takes_every_rank_of_it(workspace, project):
    src = project("train.py", DDP)
    run = Experiment(workspace, "faults").submit(_ddp(src, fault="kill-node:1@step=10"))
    run.wait_for_completion(raise_on_error=False)
    fault = json.loads(run.get_properties()["runyard.fault"])
    assert run.get_status() == "Failed" and fault["injected"] and len(fault["pids"]) == 2


def test_a_straggler_is_stopped_for_the_time_asked_then_goes_on(workspace, project):
    src = project("train.py", STEPS)
    run = Experiment(workspace, "faults").submit(PyTorch(str(src), entry_script="train.py",
                                                         fault="delay-rank:0@step=5,for=2"))
    run.wait_for_completion(raise_on_error=True)
    times = run.get_metrics()["t"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) >= 1.9 and sorted(gaps)[-2] < 1.0  # one long pause, the rest at its pace
    assert json.loads(run.get_properties()["runyard.fault"])["step"] >= 5


def test_a_fault_at_a_time_is_fired_from_outside_the_rank(workspace, project):
    src = project("train.py", STEPS.replace("range(12)", "range(40)"))
    run = Experiment(workspace, "faults").submit(PyTorch(str(src), entry_script="train.py",
                                                         fault="kill-rank:0@seconds=1.5"))
    run.wait_for_completion(raise_on_error=False)
    fault = json.loads(run.get_properties()["runyard.fault"])
    assert run.get_status() == "Failed" and fault["injected"] and 1.5 <= fault["seconds"] < 3
    assert 0 < len(run.get_metrics()["t"]) < 40  # it was killed part-way


def test_a_failed_build_is_injected_before_anything_runs(workspace, project):
    src = project("train.py", STEPS)
    run = Experiment(workspace, "faults").submit(PyTorch(str(src), entry_script="train.py", fault="fail-build"))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed" and "injected (fault fail-build)" in run.get_details()["error"]["error"][
        "message"]
    assert run.get_metrics() == {}


def test_a_fault_that_cannot_apply_is_refused_before_anything_is_written(workspace, project):
    src = project("train.py", STEPS)
    with pytest.raises(InvalidValueError, match=r"fault='kill-rank:4@step=1': names rank 4, but the run has 4 ranks"):
        _ddp(src, fault="kill-rank:4@step=1").job_spec("x")
    done = subprocess.run([*CLI, "-w", str(workspace.path), "submit", "train.py", "--inject", "explode:1@step=2"],
                          capture_output=True, text=True, cwd=src)
    assert done.returncode != 0 and "inject='explode:1@step=2'" in done.stderr and "Fix:" in done.stderr
    assert not list(Experiment(workspace, "default").get_runs())
