"""What mpirun starts for each rank: `python -m runyard.launch.mpi_rank RUN_DIR ATTEMPT PPN USE_GPU [--container]
-- CMD...`. With --container (a run with Docker settings), the rank's command runs in the run's image: host mpirun
starting one container per rank, which gets the rank's Open MPI variables (OMPI_*, PMIX_*) and the host's network.

It maps Open MPI's variables onto the torch.distributed contract (RANK, LOCAL_RANK, NODE_RANK, ...),
sends the rank's output to its own log file, then exec()s the script: no extra process stays behind.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> None:
    from runyard.launch.expand import expand, expandable

    run_dir, attempt, ppn, use_gpu = argv[1], int(argv[2]), int(argv[3]), argv[4] == "1"
    command = argv[argv.index("--") + 1:]
    rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
    env = dict(os.environ)
    env.update({"RANK": str(rank), "LOCAL_RANK": str(rank % ppn), "NODE_RANK": str(rank // ppn),
                "GROUP_RANK": str(rank // ppn), "RUNYARD_RANK": str(rank),
                "WORLD_SIZE": os.environ["OMPI_COMM_WORLD_SIZE"]})
    if use_gpu:
        env["CUDA_VISIBLE_DEVICES"] = env["LOCAL_RANK"]
    if env.get("MASTER_ADDR"):  # gloo/NCCL on this host's route to the first node, unless the job chose
        from runyard.launch.network import interface_env, route_to

        env.update(interface_env(route_to(env["MASTER_ADDR"]), env))
    suffix = f"_attempt_{attempt}" if attempt else ""
    log = os.path.join(run_dir, "user_logs", f"std_log_rank_{rank}{suffix}.txt")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(os.path.join(run_dir, "wd"))
    values = expandable(env)
    command = [expand(a, values) for a in command]
    if "--container" in argv[5:argv.index("--")]:
        command = _in_container(run_dir, attempt, rank, command, env)
    os.execvpe(command[0], command, env)


def _in_container(run_dir: str, attempt: int, rank: int, command: list[str], env: dict[str, str]) -> list[str]:
    from runyard.launch.containers import RankContainers
    from runyard.run_folder import RunFolder
    from runyard.spec import JobSpec

    folder = RunFolder(run_dir)
    spec = JobSpec.from_json(folder.spec_file.read_text())
    containers = RankContainers.of(spec, env)
    assert containers is not None, "--container for a run without Docker settings"
    gpus = [g for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.startswith(("GPU-", "MIG-"))]
    return containers.wrap(command, env, str(folder.working_dir), containers.name(folder.run_id, attempt, rank),
                           gpus)


if __name__ == "__main__":
    main(sys.argv)
