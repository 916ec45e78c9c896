"""Several ranks for real: gloo on CPU through runyard's agent, and Open MPI's mpirun."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from runyard import Experiment, ScriptRunConfig
from runyard.compute.local import gpu_count
from runyard.runconfig import MpiConfiguration, PyTorchConfiguration
from runyard.train.dnn import PyTorch
from tests.ddp_jobs import DDP, FAILED_RANK, rank_reports, submit_ddp
from tests.conftest import ROOT, processes_of
from tests.waiting import eventually

# torch 2.13's gloo sometimes aborts a process that exits with a live process group (SIGABRT,
# "terminate called without an active exception") instead of exiting 1: either way the rank is named
pytestmark = pytest.mark.integration
needs_mpi = pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI (mpirun) is not installed")


def ddp(workspace, nodes, ppn, backend="gloo", **params):
    return submit_ddp(workspace, nodes, ppn, backend=backend, **params)


def test_2x2_ddp_ends_with_identical_parameters(workspace):
    run = ddp(workspace, 2, 2)
    assert run.wait_for_completion()["status"] == "Completed"
    reports = rank_reports(run, 4)
    assert all(r["params"] == reports[0]["params"] for r in reports)
    assert [(r["node_rank"], r["local_rank"]) for r in reports] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {f"user_logs/std_log_rank_{r}.txt" for r in range(4)} <= set(run.get_file_names())
    # every rank logged; rank 0's values by default, any rank on request
    assert len(run.get_metrics()["loss"]) == 8
    assert run.get_metrics(rank=3)["loss"] != run.get_metrics()["loss"]
    details = run.get_details()
    assert details["runDefinition"]["nodeCount"] == 2
    assert "2 nodes simulated on this machine" in details["properties"]["runyard.placement"]


@needs_mpi
def test_same_script_under_mpi(workspace):
    run = ddp(workspace, 1, 2, backend="mpi")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    reports = rank_reports(run, 2)
    assert reports[0]["params"] == reports[1]["params"]
    assert [r["ompi_rank"] for r in reports] == ["0", "1"]


@needs_mpi
def test_mpi_ranks_see_the_services_variables(workspace, project):
    src = project("env.py", """
        import json, os
        keys = ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                "OMPI_COMM_WORLD_LOCAL_SIZE", "AZ_BATCH_MASTER_NODE", "AZ_BATCHAI_MPI_MASTER_NODE",
                "MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK"]
        os.makedirs("outputs", exist_ok=True)
        json.dump({k: os.environ.get(k) for k in keys}, open(f"outputs/{os.environ['RANK']}.json", "w"))
    """)
    cfg = ScriptRunConfig(str(src), "env.py", distributed_job_config=MpiConfiguration(process_count_per_node=2,
                                                                                        node_count=2))
    run = Experiment(workspace, "mpienv").submit(cfg)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    seen = [json.loads(run.folder.file_path(f"outputs/{r}.json").read_text()) for r in range(4)]
    assert [s["OMPI_COMM_WORLD_RANK"] for s in seen] == ["0", "1", "2", "3"]
    assert {s["OMPI_COMM_WORLD_SIZE"] for s in seen} == {"4"} and {s["WORLD_SIZE"] for s in seen} == {"4"}
    assert [s["NODE_RANK"] for s in seen] == ["0", "0", "1", "1"]
    assert all(s["AZ_BATCH_MASTER_NODE"] == f"{s['MASTER_ADDR']}:{s['MASTER_PORT']}" for s in seen)


def test_failing_rank_stops_the_others_and_is_named(workspace):
    run = ddp(workspace, 1, 4, fail_rank=2, fail_step=5)
    details = run.wait_for_completion(raise_on_error=False)  # it ends: the peers waiting on rank 2 were stopped
    message = details["error"]["error"]["message"]
    assert details["status"] == "Failed"
    assert re.match(FAILED_RANK.format(rank=2), message), message
    assert "rank 2 failing on purpose at step 5" in message
    eventually(lambda: processes_of(workspace.path) == [], "the job's processes to be gone")


@needs_mpi
def test_failing_rank_under_mpi_is_named(workspace):
    run = ddp(workspace, 1, 2, backend="mpi", fail_rank=1, fail_step=2)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert re.match(FAILED_RANK.format(rank=1), details["error"]["error"]["message"])


def test_cancel_a_2x2_job_leaves_no_process(workspace):
    run = ddp(workspace, 2, 2, steps=100000)
    deadline = time.time() + 60
    while "loss" not in run.get_metrics() and time.time() < deadline:
        time.sleep(0.2)
    run.cancel()
    assert run.get_status() == "Canceled"
    eventually(lambda: processes_of(workspace.path) == [], "the job's processes to be gone")


def test_max_restarts_restarts_all_ranks(workspace):
    est = PyTorch(str(DDP), entry_script="train.py", process_count_per_node=2, distributed_backend="gloo",
                  script_params={"--steps": 4, "--fail_rank": 1, "--fail_step": 1, "--fail_first_attempt": ""},
                  max_restarts=1)
    run = Experiment(workspace, "restart").submit(est)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert all(r["attempt"] == 1 for r in rank_reports(run, 2))
    names = set(run.get_file_names())
    assert {"user_logs/std_log_rank_1.txt", "user_logs/std_log_rank_1_attempt_1.txt"} <= names
    assert "failing on purpose" in run.folder.file_path("user_logs/std_log_rank_1.txt").read_text()


def test_local_rank_tokens_expand_per_process(workspace, project):
    src = project("echo.py", "import sys, os\nos.makedirs('outputs', exist_ok=True)\n"
                             "open(f'outputs/{os.environ[\"RANK\"]}.txt', 'w').write(' '.join(sys.argv[1:]))\n")
    cfg = ScriptRunConfig(str(src), "echo.py", arguments=["--local_rank", "$LOCAL_RANK", "--tag", "${RANK}-x", "$HOME"],
                          distributed_job_config=PyTorchConfiguration("Gloo", process_count=2))
    run = Experiment(workspace, "tokens").submit(cfg)
    run.wait_for_completion()
    assert run.folder.file_path("outputs/1.txt").read_text() == "--local_rank 1 --tag 1-x $HOME"


@pytest.mark.skipif(gpu_count() == 0, reason="no GPU on this machine")
def test_nccl_on_gpus(workspace):
    ppn = min(gpu_count(), 2)
    est = PyTorch(str(DDP), entry_script="train.py", process_count_per_node=ppn, distributed_backend="nccl",
                  use_gpu=True, script_params={"--steps": 8})
    run = Experiment(workspace, "nccl").submit(est)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    reports = rank_reports(run, ppn)
    assert all(r["params"] == reports[0]["params"] for r in reports)


def _has_horovod() -> bool:
    import importlib.util

    return importlib.util.find_spec("horovod") is not None


@needs_mpi
@pytest.mark.skipif(not _has_horovod(), reason="Horovod is not built (scripts/build_horovod.sh)")
def test_horovod_averages_gradients_under_mpi(workspace):
    est = PyTorch(str(ROOT / "examples" / "horovod"), entry_script="train.py", node_count=2,
                  process_count_per_node=1, distributed_backend="mpi")
    run = Experiment(workspace, "horovod").submit(est)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    reports = [json.loads(run.folder.file_path(f"outputs/rank_{r}.json").read_text()) for r in range(2)]
    assert all(r["size"] == 2 for r in reports)
    assert all(r["averaged_gradient"] == [1.5, 1.5, 1.5] for r in reports)  # mean of 1 and 2
    assert reports[0]["weight"] == reports[1]["weight"] == [-1.5, -1.5, -1.5]


def test_nccl_with_more_ranks_than_gpus_is_refused_before_launch(workspace, monkeypatch, tmp_path):
    from runyard.errors import ComputeTargetException
    from tests.fake_gpus import install

    install(tmp_path, monkeypatch, 1)  # a one-GPU machine, at the boundary (its nvidia-smi)
    est = PyTorch(str(DDP), entry_script="train.py", process_count_per_node=2, distributed_backend="nccl",
                  use_gpu=True)
    with pytest.raises(ComputeTargetException, match="process_count_per_node=2.*takes 2 GPUs.*Duplicate GPU detected"
                                                     ".*has 1"):
        Experiment(workspace, "nccl").submit(est)
    assert workspace.store.list_runs() == []


def test_show_output_streams_every_rank_on_request(workspace, project):
    import io

    from runyard.run_output import wait_and_stream

    src = project("hello.py", "import os\nprint('hello from', os.environ['RANK'])\n")
    run = Experiment(workspace, "ranks").submit(
        ScriptRunConfig(str(src), "hello.py", distributed_job_config=PyTorchConfiguration("Gloo", process_count=3)))
    out = io.StringIO()
    wait_and_stream(run, show_output=True, raise_on_error=True, all_ranks=True, out=out)
    for rank in range(3):
        assert f"[rank {rank}] hello from {rank}" in out.getvalue()
    only_rank0 = io.StringIO()
    wait_and_stream(run, show_output=True, raise_on_error=True, out=only_rank0)
    assert "hello from 0" in only_rank0.getvalue() and "hello from 1" not in only_rank0.getvalue()
