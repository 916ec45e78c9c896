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


def test_ray_dry_run_is_the_placement_plan(workspace, tmp_path):
    cluster = ComputeTarget.attach(workspace, "ray", RayCompute.attach_configuration("127.0.0.1:6379"))
    dry = cluster.dry_run(RunFolder(tmp_path / "run"), _spec("ray", 2, 2, Backend.GLOO, gpu=True), "/envs/python")
    assert isinstance(dry.request, RayPlan)
    assert dry.request.bundles == ({"CPU": 2.0, "GPU": 2.0},) * 2 and dry.request.strategy == "STRICT_SPREAD"
    assert len(dry.request.agent_commands) == 2
