"""The Slurm target on a real cluster: munged, slurmctld and two slurmd on this machine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from runyard import ComputeTarget
from runyard.compute.slurm import SlurmCompute
from tests.conftest import ROOT, processes_of
from tests.ddp_jobs import FAILED_RANK, rank_reports, submit_ddp
from tests.waiting import eventually

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("slurmctld") is None, reason="slurm-wlm is not installed")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    # each node is a host of its own with a private /tmp: the tests' folders (workspaces, shared folders) are what
    # the cluster shares
    env = {**os.environ, "RUNYARD_SLURM_DIR": str(state),
           "RUNYARD_HOSTS_SHARED": str(tmp_path_factory.getbasetemp())}
    up = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_cluster.sh"), "up"], env=env, capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    conf = up.stdout.strip().split("=", 1)[1]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    subprocess.run(["bash", str(ROOT / "scripts" / "slurm_cluster.sh"), "down"], env=env, timeout=60)
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous


@pytest.fixture
def target(cluster, workspace, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()

    def attach(name="cluster", **config):
        config.setdefault("partition", "debug")
        return ComputeTarget.attach(workspace, name, SlurmCompute.attach_configuration(shared_folder=str(shared),
                                                                                        **config))
    return attach


def submit(workspace, target, nodes, ppn, steps=6, **params):
    return submit_ddp(workspace, nodes, ppn, compute_target=target, steps=steps, experiment="slurm", **params)


def test_2_nodes_ddp_on_the_cluster(workspace, target):
    cluster = target()
    assert "cluster" in workspace.compute_targets and workspace.compute_targets["cluster"].type == "slurm"
    run = submit(workspace, cluster, 2, 1)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = rank_reports(run, 2)
    assert seen[0]["params"] == seen[1]["params"]
    assert [s["node_rank"] for s in seen] == [0, 1]
    # two hosts of their own: each rank talked on its host's own address, on the interface towards MASTER_ADDR
    networks = [json.loads(details["properties"][f"runyard.network.node{n}"]) for n in (0, 1)]
    if os.environ.get("RUNYARD_SLURM_HOSTS", "netns") == "netns":
        assert [s["host"] for s in seen] == ["n1", "n2"] and [s["gloo_ifname"] for s in seen] == ["eth0", "eth0"]
        assert networks[0]["address"] != networks[1]["address"] and networks[0]["network"] == networks[1]["network"]
        assert networks[0]["address"] == networks[1]["masterAddr"] != "127.0.0.1"
        assert networks[1]["set"] == ["GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "TP_SOCKET_IFNAME"]
    assert run.folder.path.is_symlink()  # the run folder lives in the shared folder
    assert "2 Slurm node(s) in debug" in details["properties"]["runyard.placement"]
    assert len(run.get_metrics()["loss"]) == 6  # spools in the shared folder were ingested
    # each node's agent sampled its own node, once: both nodes' series, apart from the script's metrics
    system = run.get_system_metrics()
    assert sorted(system["system/job_memory_rss_megabytes"]) == ["node 0", "node 1"]
    assert list(system["system/rank_1_memory_rss_megabytes"]) == ["node 1"] and "loss" not in system


def test_2x2_layout(workspace, target):
    run = submit(workspace, target(), 2, 2)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    seen = rank_reports(run, 4)
    assert all(s["params"] == seen[0]["params"] for s in seen)
    assert [(s["node_rank"], s["local_rank"]) for s in seen] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_failing_rank_is_named(workspace, target):
    run = submit(workspace, target(), 2, 1, fail_rank=1, fail_step=2)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert re.match(FAILED_RANK.format(rank=1), details["error"]["error"]["message"])
    assert "failing on purpose" in details["error"]["error"]["message"]


def test_cancel_runs_scancel(workspace, target):
    run = submit(workspace, target(), 2, 1, steps=1_000_000)
    deadline = time.time() + 60
    while run.get_status() != "Running" and time.time() < deadline:
        time.sleep(0.2)
    run.cancel()
    assert run.get_status() == "Canceled"
    eventually(lambda: subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip() == "",
               "Slurm's queue to be empty")
    assert processes_of(workspace.path) == [] and processes_of(run.folder.path.resolve()) == []


@pytest.mark.parametrize("config,nodes,expected", [
    ({"partition": "nope"}, 1, "sbatch refused the job: sbatch: error: invalid partition specified: nope\n"
                               "sbatch: error: Batch job submission failed: Invalid partition name specified"),
    ({}, 3, "sbatch refused the job: sbatch: error: Batch job submission failed: "
            "More processors requested than permitted"),
    ({"partition": "debug", "sbatch_options": ["--constraint=a100"]}, 1,
     "sbatch refused the job: sbatch: error: Batch job submission failed: Invalid feature specification"),
])
def test_refused_sbatch_is_the_runs_error_word_for_word(workspace, target, config, nodes, expected):
    run = submit(workspace, target(name="refusing", **config), nodes, 1)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == expected


def test_job_over_its_time_limit(workspace, target):
    run = submit(workspace, target(name="short", time_limit="0:03"), 1, 1, steps=10_000_000)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "hit its time limit: TIMEOUT" in details["error"]["error"]["message"]


def test_a_requeued_job_goes_on_from_its_checkpoint_as_a_new_attempt(workspace, target, project, tmp_path):
    """`scontrol requeue` (what preemption does) on a running 2-node job: it runs again, its ranks resume from
    the run's checkpoint folder, and it ends with the parameters of an uninterrupted run, bit for bit."""
    from tests.ddp_jobs import resumable_pair, same_final_bits

    plain, run = resumable_pair(workspace, project, "requeue", target())
    job_id = subprocess.run(["squeue", "-h", "-n", f"runyard-{run.id}", "-o", "%i"], capture_output=True,
                            text=True).stdout.strip()
    assert job_id, "the job is running"
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    attempt = json.loads(run.get_properties()["runyard.attempt.0"])
    (requeue,) = attempt["requeued"]
    assert requeue["resumedFromStep"] % 10 == 0 and requeue["resumedFromStep"] >= 30
    events = workspace.store.status_events(run.id)
    assert any("requeued 1 time(s)" in e.detail for e in events)
    assert same_final_bits(plain, run, tmp_path)


def test_a_killed_node_agent_is_injected_and_fails_the_job_naming_it(workspace, target, project):
    from tests.ddp_jobs import killed_agent_run

    details, _ = killed_agent_run(workspace, project, target())
    assert details["status"] == "Failed" and "slurm job" in details["error"]["error"]["message"]


def test_a_node_that_fails_under_a_job_is_named_in_the_runs_error(workspace, target, project):
    """An admin (or the cluster) marks a node of a running job down: Slurm ends the job NODE_FAIL, and the run's
    error says so and names the nodes."""
    src = project("train.py", "import time\nfrom runyard import Run\nrun = Run.get_context()\n"
                              "for i in range(600):\n    run.log('i', i, step=i)\n    time.sleep(0.1)\n")
    from runyard import Experiment
    from runyard.train.dnn import PyTorch

    run = Experiment(workspace, "nodefail").submit(PyTorch(
        str(src), entry_script="train.py", node_count=2, process_count_per_node=1, distributed_backend="gloo",
        compute_target=target(name="norequeue", sbatch_options=["--no-requeue"])))
    deadline = time.time() + 60
    while time.time() < deadline and not run.get_metrics().get("i"):
        time.sleep(0.3)
    subprocess.run(["scontrol", "update", "nodename=n2", "state=down", "reason=power lost"], check=True)
    try:
        details = run.wait_for_completion(raise_on_error=False)
    finally:
        subprocess.run(["scontrol", "update", "nodename=n2", "state=resume"], check=False)
    message = details["error"]["error"]["message"]
    assert details["status"] == "Failed" and "lost a node: NODE_FAIL" in message
    # a node still down is named with Slurm's reason; this test cluster returns a node to service at once
    # (ReturnToService=2), so by the time the error is written it names the job's nodes
    assert re.search(r"lost n2 down\S* \(power lost\)|its nodes were n\[1-2\]", message), message


def test_dry_run_sbatch_script(workspace, tmp_path):
    from runyard.run_folder import RunFolder
    from runyard.spec import Backend, JobSpec, Resources

    shared = tmp_path / "s"
    shared.mkdir()
    config = SlurmCompute.attach_configuration(partition="gpu", account="ml", qos="high", time_limit="02:00:00",
                                               gpus_per_node=4, sbatch_options=["--mem=64G"], shared_folder=str(shared))
    cluster = ComputeTarget.attach(workspace, "gpus", config)
    spec = JobSpec("e", "train.py", "digest", "gpus", ("--lr", "0.1 x"), resources=Resources(2, 4, True),
                   backend=Backend.NCCL)
    script = cluster.sbatch_script(RunFolder(tmp_path / "run 1"), spec, "/envs/py")
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --partition=gpu", "#SBATCH --account=ml",
                 "#SBATCH --qos=high", "#SBATCH --time=02:00:00", "#SBATCH --gres=gpu:4", "#SBATCH --mem=64G",
                 "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 "):
        assert line in script, line
    assert f"'{tmp_path}/run 1' --interpreter /envs/py --attempt 0" in script
    mpi = cluster.sbatch_script(RunFolder(tmp_path / "r"), JobSpec("e", "t.py", "d", "gpus", resources=Resources(2, 2),
                                                                    backend=Backend.MPI), "/envs/py")
    assert "exec mpirun -np 4 --map-by ppr:2:node" in mpi


def test_attach_from_the_cli(workspace, tmp_path):
    import sys

    cli = [sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "compute"]
    done = subprocess.run([*cli, "attach-slurm", "hpc", "--partition", "gpu", "--gpus-per-node", "8",
                           "--sbatch-option=--mem=64G", "--shared-folder", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True).stdout
    assert "hpc\tslurm" in listed and '"gpus_per_node": 8' in listed and "--mem=64G" in listed
    target = workspace.compute_targets["hpc"]
    assert target.config["partition"] == "gpu"
    bad = subprocess.run([*cli, "attach-slurm", "x", "--sbatch-option=mem"], capture_output=True, text=True)
    assert bad.returncode == 2 and "sbatch_options='mem'" in bad.stderr
    assert subprocess.run([*cli, "detach", "hpc"], capture_output=True).returncode == 0
    assert "hpc" not in workspace.compute_targets


@pytest.mark.skipif(shutil.which("podman") is None, reason="Podman is not installed (scripts/setup.sh installs it)")
def test_a_container_run_on_the_cluster_starts_each_rank_in_podman_on_its_node(workspace, target, project,
                                                                               podman_storage):
    from runyard import Experiment
    from runyard.train.dnn import PyTorch
    from tests.conftest import IMAGE

    src = project("train.py", """
        import json, os, sys
        from runyard import Run
        Run.get_context().log("node", float(os.environ["NODE_RANK"]))
        os.makedirs("outputs", exist_ok=True)
        json.dump({"image": open("/etc/runyard-image").read().strip(), "python": sys.executable,
                   "slurm_job": os.environ.get("SLURM_JOB_ID")}, open(f"outputs/seen_{os.environ['RANK']}.json", "w"))
    """)
    cluster = target(containers="podman")
    run = Experiment(workspace, "slurm-containers").submit(PyTorch(
        str(src), entry_script="train.py", compute_target=cluster, node_count=2, distributed_backend="gloo",
        custom_docker_image=IMAGE))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = [json.loads((run.folder.working_dir / "outputs" / f"seen_{r}.json").read_text()) for r in range(2)]
    assert {s["image"] for s in seen} == {"runyard-test-image"} and {s["python"] for s in seen} == {"/usr/bin/python3"}
    assert all(s["slurm_job"] is None for s in seen)  # the container got the rank's contract, not the node's
    assert run.get_metrics(rank=1)["node"] == 1.0
    script = (run.folder.path / "sbatch_attempt_0.sh").read_text()
    assert "export RUNYARD_CONTAINER_RUNTIME=podman" in script  # the way chosen, in the job's own script


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI is not installed")
def test_an_mpi_job_spans_both_hosts_on_their_own_network(workspace, target):
    run = submit(workspace, target(), 2, 1, backend="mpi")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = rank_reports(run, 2)
    assert [s["ompi_rank"] for s in seen] == ["0", "1"] and seen[0]["params"] == seen[1]["params"]
    if os.environ.get("RUNYARD_SLURM_HOSTS", "netns") == "netns":
        assert [s["host"] for s in seen] == ["n1", "n2"]  # world size 2 across two hosts, not two worlds of 1
    script = (run.folder.path / "sbatch_attempt_0.sh").read_text()
    assert '--mca btl_tcp_if_include "$net"' in script and "runyard.launch.network cidr" in script


@pytest.mark.skipif(os.environ.get("RUNYARD_SLURM_HOSTS", "netns") != "netns", reason="needs nodes on hosts of their own")
def test_a_partitioned_node_is_named_within_30_s_and_the_run_resumes_once_the_link_is_back(workspace, target, project):
    from runyard import Experiment
    from runyard.train.dnn import PyTorch
    from tests.ddp_jobs import RESUMABLE

    src = project("train.py", RESUMABLE)
    run = Experiment(workspace, "partition").submit(PyTorch(
        str(src), entry_script="train.py", node_count=2, process_count_per_node=1, distributed_backend="gloo",
        compute_target=target(), fault="partition-node:1@step=30,for=20"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    props = run.get_properties()
    fault = json.loads(props["runyard.fault"])
    first, second = json.loads(props["runyard.attempt.0"]), json.loads(props["runyard.attempt.1"])
    assert fault["injected"] and fault["step"] >= 30 and fault["restoredAfter"] >= 20
    assert "node 1 (" in first["outcome"] and "stopped answering on the network" in first["outcome"]
    assert first["decidedSeconds"] - fault["seconds"] <= 30  # named within 30 s of the cut, no rank left hanging
    assert second["outcome"] == "completed" and second["resumedFromStep"] >= 30
    assert len(run.get_metrics()["loss"]) >= 100  # what was logged before the cut is kept, and the rest after it


def test_network_faults_are_refused_on_the_local_target_with_the_fix(workspace, project):
    from runyard import Experiment
    from runyard.errors import ComputeTargetException
    from runyard.train.dnn import PyTorch

    src = project("train.py", "print(1)\n")
    with pytest.raises(ComputeTargetException, match="no node's link can be cut or slowed alone. Fix: run it on a "
                                                     "Slurm or Ray cluster"):
        Experiment(workspace, "local").submit(PyTorch(str(src), entry_script="train.py", node_count=2,
                                                      distributed_backend="gloo", fault="delay-node:1@step=5,ms=50"))


@pytest.mark.skipif(os.environ.get("RUNYARD_SLURM_HOSTS", "netns") != "netns", reason="needs nodes on hosts of their own")
def test_a_delayed_node_slows_the_job_but_does_not_fail_it(workspace, target):
    from runyard import Experiment
    from runyard.train.dnn import PyTorch
    from tests.ddp_jobs import DDP

    run = Experiment(workspace, "delay").submit(PyTorch(
        str(DDP), entry_script="train.py", compute_target=target(), node_count=2, distributed_backend="gloo",
        script_params={"--steps": 40}, fault="delay-node:1@step=5,ms=30,for=5"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    fault = json.loads(run.get_properties()["runyard.fault"])
    # injected where the kernel has tc's netem; where it does not, said plainly (and the run is untouched)
    assert fault["injected"] or "netem" in fault["why"], fault
    assert len(run.get_metrics()["loss"]) == 40


@pytest.mark.skipif(os.environ.get("RUNYARD_SLURM_HOSTS", "netns") != "netns", reason="needs nodes on hosts of their own")
def test_metrics_shipped_from_the_other_hosts_reach_the_server_here_exactly_once(workspace, target):
    from runyard import Experiment, Workspace
    from runyard.train.dnn import PyTorch
    from tests.ddp_jobs import DDP
    from tests.web import start_server

    target()  # attached in the folder the server serves
    server, url = start_server(workspace, "--host", "0.0.0.0", "--token", "team-secret")
    try:
        # the user names the server as they know it here (loopback); the nodes are other hosts
        run = Experiment(Workspace.connect(url, token="team-secret"), "ship").submit(PyTorch(
            str(DDP), entry_script="train.py", compute_target="cluster", node_count=2, distributed_backend="gloo",
            script_params={"--steps": 12},
            environment_variables={"RUNYARD_SERVER_URL": url, "RUNYARD_SERVER_TOKEN": "team-secret"}))
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Completed", details.get("error")
        assert [len(run.get_metrics(rank=r)["loss"]) for r in (0, 1)] == [12, 12]  # shipped and ingested: once
        logs = "".join(p.read_text() for p in (Path(details["runFolder"]) / "system_logs").glob("slurm-*.txt"))
        shipped_to = re.findall(r"node \d: shipping the run's metrics to (\S+)", logs)
        port = url.rsplit(":", 1)[1]
        assert len(shipped_to) == 2 and all(u.startswith("http://10.") and u.endswith(f":{port}") for u in shipped_to)
        assert logs.count("the server has every metric logged here") == 2  # each node reached it
    finally:
        server.terminate()
        server.wait(timeout=30)
