"""Every compute target's dry run is data: the supervisor's command line and the exact request it would make of
its backend (each rank's argv here, the sbatch script on Slurm, the placement plan on Ray). Nothing is
started; integration tests run the real thing."""

from __future__ import annotations

import sys

from runyard.compute.base import ComputeTarget, DryRun
from runyard.compute.ray import RayCompute
from runyard.compute.registry import get_target
from runyard.compute.slurm import SlurmCompute
from runyard.launch.ray_job import RayPlan
from runyard.run_folder import RunFolder
from runyard.spec import Backend, JobSpec, Resources


def _spec(target: str, nodes: int, per_node: int, backend: Backend | None, gpu: bool = False) -> JobSpec:
    return JobSpec("e", "train.py", "d" * 64, target, ("--lr", "0.1"), resources=Resources(nodes, per_node, gpu),
                   backend=backend)


def test_local_dry_run_is_the_supervisor_and_each_ranks_argv(workspace, tmp_path):
    folder = RunFolder(tmp_path / "run")
    dry = get_target(workspace.folder, "local").dry_run(folder, _spec("local", 2, 2, Backend.GLOO), "/envs/python")
    assert isinstance(dry, DryRun)
    assert dry.supervisor == (sys.executable, "-m", "runyard.supervisor", str(folder.path))
    rendezvous, *ranks = dry.request
    assert rendezvous[:3] == ("/envs/python", "-m", "runyard.launch.rendezvous")  # two nodes: one store host
    assert ranks == [("/envs/python", "train.py", "--lr", "0.1")] * 4


def test_local_mpi_dry_run_is_one_mpirun(workspace, tmp_path):
    dry = get_target(workspace.folder, "local").dry_run(RunFolder(tmp_path / "r"), _spec("local", 1, 2, Backend.MPI))
    (mpirun,) = dry.request
    assert mpirun[0].endswith("mpirun") and mpirun[1:3] == ("-np", "2") and mpirun[-2:] == ("--lr", "0.1")


def test_slurm_dry_run_is_the_sbatch_script(workspace, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    cluster = ComputeTarget.attach(workspace, "cpus", SlurmCompute.attach_configuration(
        partition="debug", shared_folder=str(shared)))
    dry = cluster.dry_run(RunFolder(shared / "run"), _spec("cpus", 2, 1, Backend.GLOO), "/envs/python")
    assert dry.request.startswith("#!/bin/bash") and "#SBATCH --nodes=2" in dry.request
    assert "#SBATCH --partition=debug" in dry.request and "--interpreter /envs/python" in dry.request
    assert "sets GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME" in dry.request  # how each node picks its interface


def test_ray_dry_run_is_the_placement_plan(workspace, tmp_path):
    cluster = ComputeTarget.attach(workspace, "ray", RayCompute.attach_configuration("127.0.0.1:6379"))
    dry = cluster.dry_run(RunFolder(tmp_path / "run"), _spec("ray", 2, 2, Backend.GLOO, gpu=True), "/envs/python")
    assert isinstance(dry.request, RayPlan)
    assert dry.request.bundles == ({"CPU": 2.0, "GPU": 2.0},) * 2 and dry.request.strategy == "STRICT_SPREAD"
    assert len(dry.request.agent_commands) == 2


def _container_spec(target: str, nodes: int, **container: object) -> JobSpec:
    from runyard.spec import ContainerSpec

    return JobSpec("e", "train.py", "d" * 64, target, ("--lr", "0.1"), resources=Resources(nodes, 1, False),
                   backend=Backend.GLOO if nodes > 1 else None, container=ContainerSpec(**container))


def test_slurm_with_pyxis_runs_the_node_agent_in_the_image(workspace, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    cluster = ComputeTarget.attach(workspace, "pyxis", SlurmCompute.attach_configuration(
        shared_folder=str(shared), containers="pyxis"))
    folder = RunFolder(shared / "run")
    script = cluster.dry_run(folder, _container_spec("pyxis", 2, image="nvcr.io/nvidia/pytorch:24.05-py3")).request
    srun = next(line for line in script.splitlines() if line.startswith("exec srun"))
    assert "--container-image=nvcr.io/nvidia/pytorch:24.05-py3" in srun
    assert f"--container-workdir={folder.path.resolve()}/wd" in srun and "/opt/runyard/site/runyard:ro" in srun
    assert srun.endswith("--attempt 0 --in-container") and " python3 -m runyard.launch.agent " in srun
    assert "ranks in containers through pyxis" in script  # the choice, shown


def test_slurm_with_apptainer_has_each_agent_start_its_ranks_with_apptainer(workspace, tmp_path):
    from runyard.environments.container_runtime import ContainerRuntime, RuntimeKind
    from runyard.launch.containers import rank_command

    shared = tmp_path / "shared"
    shared.mkdir()
    cluster = ComputeTarget.attach(workspace, "hpc", SlurmCompute.attach_configuration(
        shared_folder=str(shared), containers="apptainer"))
    script = cluster.dry_run(RunFolder(shared / "run"), _container_spec("hpc", 1, image="python:3.11-slim")).request
    assert "export RUNYARD_CONTAINER_RUNTIME=apptainer" in script and "runyard.launch.agent" in script
    command = rank_command(ContainerRuntime(RuntimeKind.APPTAINER, "apptainer"), image="python:3.11-slim",
                           argv=["python3", "train.py"], env={"RANK": "0", "HOME": "/root"}, workdir="/ws/run/wd",
                           mounts=[("/ws", "/ws", True)], name="unused", shm_size="2g", gpus=["GPU-1"])
    assert command[:2] == ["apptainer", "exec"] and "--nv" in command and "--env" in command
    assert command[command.index("--env") + 1] == "RANK=0" and "HOME=/root" not in command  # only the contract
    assert command[-3:] == ["docker://python:3.11-slim", "python3", "train.py"]


def test_a_dockerfile_on_a_pyxis_cluster_is_refused_with_the_fix(workspace, tmp_path):
    import pytest

    from runyard.errors import ComputeTargetException

    shared = tmp_path / "shared"
    shared.mkdir()
    cluster = ComputeTarget.attach(workspace, "pyxis", SlurmCompute.attach_configuration(
        shared_folder=str(shared), containers="pyxis"))
    with pytest.raises(ComputeTargetException, match="does not build Dockerfiles. Fix: build the image, push it"):
        cluster.check(_container_spec("pyxis", 1, dockerfile="FROM python:3.11\n"))


def test_the_local_dry_run_wraps_each_rank_in_podman_with_only_the_job_variables(workspace, tmp_path):
    import shutil

    import pytest

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    folder = RunFolder(tmp_path / "ws" / "runs" / "r")
    dry = get_target(workspace.folder, "local").dry_run(folder, _container_spec(
        "local", 1, image="localhost/x:1", shm_size="8g", arguments=("--cap-add", "SYS_PTRACE")), "/envs/python")
    (rank,) = dry.request
    assert rank[0].endswith("podman") and "run" in rank and ("--shm-size", "8g") == rank[rank.index("--shm-size"):
                                                                                         rank.index("--shm-size") + 2]
    assert f"{tmp_path / 'ws'}:{tmp_path / 'ws'}:rw" in rank and "--network" in rank
    assert rank[rank.index("localhost/x:1") - 2:rank.index("localhost/x:1")] == ("--cap-add", "SYS_PTRACE")
    assert rank[-2:] == ("train.py", "--lr", "0.1")[-2:] and "PATH" not in rank
