"""The Ray target on a real Ray cluster: a head node and a worker node (two raylets) on this machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from runyard import ComputeTarget, Experiment
from runyard.errors import ComputeTargetException
from runyard.train.dnn import PyTorch
from tests.conftest import ROOT, processes_of
from tests.ddp_jobs import DDP, FAILED_RANK, rank_reports, submit_ddp

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'runyard[ray]')")
from runyard.compute.ray import RayCompute  # noqa: E402 - only with Ray present

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    script = ["bash", str(ROOT / "scripts" / "ray_cluster.sh")]
    # the worker is a host of its own with a private /tmp: the tests' folders are what the cluster shares
    os.environ["RUNYARD_HOSTS_SHARED"] = str(tmp_path_factory.getbasetemp())
    up = subprocess.run([*script, "up"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    yield up.stdout.strip().splitlines()[-1].split("=", 1)[1]
    subprocess.run([*script, "down"], timeout=120)
    os.environ.pop("RUNYARD_HOSTS_SHARED", None)


@pytest.fixture
def target(cluster, workspace, tmp_path):
    def attach(name="ray", **config):
        return ComputeTarget.attach(workspace, name, RayCompute.attach_configuration(address=cluster, **config))
    return attach


def submit(workspace, target, nodes, ppn, steps=6, **params):
    return submit_ddp(workspace, nodes, ppn, compute_target=target, steps=steps, experiment="ray", **params)


def test_2_nodes_ddp_on_the_ray_cluster(workspace, target, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    cluster = target(shared_folder=str(shared), cpus_per_process=0.5)
    assert workspace.compute_targets["ray"].type == "ray"
    run = submit(workspace, cluster, 2, 1)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = rank_reports(run, 2)
    assert seen[0]["params"] == seen[1]["params"] and [s["node_rank"] for s in seen] == [0, 1]
    if os.environ.get("RUNYARD_RAY_HOSTS", "netns") == "netns":  # the worker is a host of its own
        networks = [json.loads(details["properties"][f"runyard.network.node{n}"]) for n in (0, 1)]
        assert len({n["address"] for n in networks}) == 2 and len({s["host"] for s in seen}) == 2
        assert {s["gloo_ifname"] for s in seen} == {n["interface"] for n in networks}
    assert run.folder.path.is_symlink()  # the run folder lives in the shared folder
    assert "2 Ray node(s)" in details["properties"]["runyard.placement"]
    assert len(run.get_metrics()["loss"]) == 6 and len(run.get_metrics(rank=1)["loss"]) == 6
    # each node's agent sampled its own node, once: both nodes' series, apart from the script's metrics
    system = run.get_system_metrics()
    assert sorted(system["system/job_memory_rss_megabytes"]) == ["node 0", "node 1"]
    assert list(system["system/rank_1_memory_rss_megabytes"]) == ["node 1"] and "loss" not in system
    # the two agents ran on two different Ray nodes (STRICT_SPREAD), and gave their resources back
    ray.init(address=cluster.config["address"], logging_level="ERROR")
    try:
        from ray.util.placement_group import placement_group_table

        states = {g["name"]: g["state"] for g in placement_group_table().values()}
        assert states[f"runyard-{run.id}-0"] == "REMOVED"
    finally:
        ray.shutdown()


def test_2x2_layout_and_a_failing_rank(workspace, target):
    cluster = target(cpus_per_process=0.5)
    run = submit(workspace, cluster, 2, 2)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert [(s["node_rank"], s["local_rank"]) for s in rank_reports(run, 4)] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    failing = submit(workspace, cluster, 2, 1, fail_rank=1, fail_step=2)
    details = failing.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert re.match(FAILED_RANK.format(rank=1), details["error"]["error"]["message"])
    assert "failing on purpose" in details["error"]["error"]["message"]


def test_a_layout_the_cluster_can_never_place_fails_with_the_reason(workspace, target):
    run = submit(workspace, target(), 3, 1)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert ("can never place this run: node_count=3 needs 3 node(s) each with {'CPU': 1.0}; 2 of its 2 alive "
            "node(s) have that much") in details["error"]["error"]["message"]


def test_cancel_stops_the_agents_and_their_ranks(workspace, target):
    run = submit(workspace, target(cpus_per_process=0.5), 2, 1, steps=1_000_000)
    deadline = time.time() + 90
    while run.get_status() != "Running" and time.time() < deadline:
        time.sleep(0.2)
    while not run.folder.rank_log(1).exists() and time.time() < deadline:
        time.sleep(0.2)
    run.cancel()
    assert run.get_status() == "Canceled"
    deadline = time.time() + 20
    while processes_of(workspace.path) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_of(workspace.path) == []


def test_mpi_and_unreachable_clusters_are_refused_or_failed_with_a_reason(workspace, project):
    cluster = ComputeTarget.attach(workspace, "nowhere", RayCompute.attach_configuration(address="127.0.0.1:9"))
    est = PyTorch(str(DDP), entry_script="train.py", compute_target=cluster, node_count=2,
                  distributed_backend="mpi")
    with pytest.raises(ComputeTargetException, match="distributed_backend='mpi'"):
        Experiment(workspace, "ray").submit(est)
    run = Experiment(workspace, "ray").submit(PyTorch(str(DDP), entry_script="train.py", compute_target=cluster))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"].startswith("cannot join the Ray cluster at 127.0.0.1:9: nothing "
                                                           "answers at 127.0.0.1:9 (Connection refused)")


def test_plan_is_data(workspace, tmp_path):
    from runyard.run_folder import RunFolder
    from runyard.spec import Backend, JobSpec, Resources

    cluster = ComputeTarget.attach(workspace, "gpus", RayCompute.attach_configuration(address="10.0.0.1:6379",
                                                                                      python="/opt/py/bin/python"))
    spec = JobSpec("e", "train.py", "d", "gpus", resources=Resources(2, 4, True), backend=Backend.NCCL)
    plan = cluster.plan(RunFolder(tmp_path / "run 1"), spec, "/envs/py", attempt=1)
    assert plan.strategy == "STRICT_SPREAD"
    assert plan.bundles == ({"CPU": 4.0, "GPU": 4.0}, {"CPU": 4.0, "GPU": 4.0})
    assert plan.agent_commands[1] == ("/opt/py/bin/python", "-m", "runyard.launch.agent", str(tmp_path / "run 1"),
                                      "--interpreter", "/envs/py", "--attempt", "1", "--node-rank", "1")
    with pytest.raises(Exception, match="address='ray://h:10001'"):
        RayCompute.attach_configuration(address="ray://h:10001")


def test_attach_from_the_cli(workspace):
    import sys

    cli = [sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "compute"]
    done = subprocess.run([*cli, "attach-ray", "rc", "--address", "10.1.2.3:6379", "--cpus-per-process", "2"],
                          capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert workspace.compute_targets["rc"].config == {"address": "10.1.2.3:6379", "cpus_per_process": 2.0}


def test_a_killed_supervisor_takes_its_actors_agents_and_ranks_with_it(workspace, target):
    import psutil

    run = submit(workspace, target(cpus_per_process=0.5), 2, 1, steps=1_000_000)
    deadline = time.time() + 90
    while not (run.folder.rank_log(0).exists() and run.folder.rank_log(1).exists()) and time.time() < deadline:
        time.sleep(0.2)
    assert len(processes_of(workspace.path)) > 1  # the supervisor and the node agents with their ranks
    psutil.Process(json.loads(run.folder.supervisor_file.read_text())["pid"]).kill()
    deadline = time.time() + 60  # Ray notices its driver is gone, kills the actors; the agents follow
    while processes_of(workspace.path) and time.time() < deadline:
        time.sleep(0.5)
    assert processes_of(workspace.path) == []
    assert run.get_status() == "Failed"


def _lose_the_worker_node() -> int:
    """SIGKILL the worker node's raylet and everything under it (its workers, the agent, the ranks): what a
    node that loses power does. Returns how many processes died."""
    import psutil

    raylets = [p for p in psutil.process_iter(["cmdline"])
               if "raylet/raylet" in " ".join(p.info["cmdline"] or []) and "--head" not in (p.info["cmdline"] or [])
               and "/tmp/runyard-ray-" in " ".join(p.info["cmdline"] or [])]
    assert len(raylets) == 1, "one worker node"
    doomed = [raylets[0], *raylets[0].children(recursive=True)]
    for p in doomed:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(doomed)


def test_a_lost_node_comes_back_and_the_run_goes_on_from_its_checkpoint(workspace, target, project, tmp_path):
    from tests.ddp_jobs import resumable_pair, same_final_bits

    plain, run = resumable_pair(workspace, project, "lost", target())
    assert _lose_the_worker_node() >= 3
    time.sleep(2)
    subprocess.run(["bash", str(ROOT / "scripts" / "ray_cluster.sh"), "worker"], check=True, timeout=120)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    props = run.get_properties()
    first, second = json.loads(props["runyard.attempt.0"]), json.loads(props["runyard.attempt.1"])
    assert "was lost" in first["outcome"] and second["outcome"] == "completed"
    assert second["resumedFromStep"] % 10 == 0 and second["resumedFromStep"] >= 30
    assert same_final_bits(plain, run, tmp_path)


def test_a_killed_node_agent_is_injected_and_named(workspace, target, project):
    from tests.ddp_jobs import killed_agent_run

    details, _ = killed_agent_run(workspace, project, target())
    assert details["status"] == "Failed" and "Ray node 1" in details["error"]["error"]["message"]
