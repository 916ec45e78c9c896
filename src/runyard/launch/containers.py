"""Ranks in containers: the one argument builder for Podman and Docker (Apptainer for cluster nodes).

A rank's container sees the same paths as a process rank: the workspace (its run folder, the snapshot as the
working folder, outputs/ and logs/) and the data references are mounted at their own paths, runyard's own package
is mounted read-only and put on PYTHONPATH (so `Run.get_context()` logs without runyard in the image), host
network (rendezvous, MPI), `--shm-size` (2g unless asked otherwise), and only the rank's own GPUs.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import runyard
from runyard.environments.container_runtime import IMAGE_ENV, RUNTIME_ENV, ContainerRuntime, RuntimeKind
from runyard.spec import JobSpec

KIT_DIR = "/opt/runyard/site"               # runyard's package inside the container, on PYTHONPATH
# what a rank's container is given of its environment: the job's own variables (named in RUNYARD_JOB_VARIABLES)
# and these; PATH, HOME and the rest come from the image
PASSED_PREFIXES = ("RUNYARD_", "AZUREML_", "AZ_BATCH", "MASTER_", "LOCAL_", "CUDA_", "NCCL_", "OMPI_", "PMIX_",
                   "TORCHELASTIC_", "GLOO_", "HOROVOD_")
PASSED_NAMES = ("WORLD_SIZE", "RANK", "NODE_RANK", "GROUP_RANK", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "PYTHONUNBUFFERED", "PYTHONHASHSEED", "PYTHONPATH")
# podman gives its conmon at most this many processes; a container asking for more fails to start
PODMAN_NPROC_CEILING = 32768
Mount = tuple[str, str, bool]               # host path, path inside, writable


@dataclass(frozen=True)
class RankContainers:
    """How one run's ranks are wrapped: the runtime, the image Preparing made ready, the mounts."""

    runtime: ContainerRuntime
    image: str
    shm_size: str
    extra: tuple[str, ...]
    interpreter: str | None      # a user-managed environment's interpreter_path, inside the image
    mounts: tuple[Mount, ...]

    @classmethod
    def of(cls, spec: JobSpec, env: Mapping[str, str]) -> RankContainers | None:
        """None for a run without Docker settings; else from what Preparing put in the run's environment."""
        if spec.container is None:
            return None
        runtime = ContainerRuntime.find(env.get(RUNTIME_ENV) or None)
        wanted = spec.environment.interpreter if spec.environment.user_managed else None
        image = env.get(IMAGE_ENV) or spec.container.image or f"localhost/runyard-env:{spec.container.digest()}"
        return cls(runtime, image, spec.container.shm_size,
                   spec.container.arguments, wanted if wanted and wanted != "python" else None, run_mounts(env))

    def name(self, run_id: str, attempt: int, rank: int) -> str:
        return f"runyard-{run_id}-a{attempt}-r{rank}".lower()

    def wrap(self, argv: Sequence[str], env: dict[str, str], workdir: str, name: str,
             gpus: Sequence[str]) -> list[str]:
        """The runtime's command that runs argv in the image; env gains what the container needs."""
        job = set(env.get("RUNYARD_JOB_VARIABLES", "").split(","))
        # runyard's package first; then the job's own PYTHONPATH (a path inside the image), never the host's
        env["PYTHONPATH"] = ":".join(filter(None, [KIT_DIR, env.get("PYTHONPATH", "") if "PYTHONPATH" in job else ""]))
        return rank_command(self.runtime, image=self.image, argv=inside_argv(argv, self.interpreter), env=env,
                            workdir=workdir, mounts=self.mounts, name=name, shm_size=self.shm_size, gpus=gpus,
                            extra=self.extra)


def run_mounts(env: Mapping[str, str]) -> tuple[Mount, ...]:
    """The workspace (run folders, snapshots), each data reference's local path, runyard's package."""
    paths = [env.get("RUNYARD_WORKSPACE", ""), env.get("RUNYARD_RUN_DIR", "")]
    paths += [v for k, v in env.items() if k.startswith("AZUREML_DATAREFERENCE_") and os.path.exists(v)]
    chosen: list[str] = []
    for path in sorted({str(Path(p).resolve()) for p in paths if p and os.path.isabs(p)}):
        if not any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            chosen.append(path)  # one mount covers what lies below it
    kit = str(Path(runyard.__file__).resolve().parent)
    return (*((p, p, True) for p in chosen), (kit, f"{KIT_DIR}/runyard", False))


def rank_command(runtime: ContainerRuntime, *, image: str, argv: Sequence[str], env: Mapping[str, str],
                 workdir: str, mounts: Sequence[Mount], name: str, shm_size: str, gpus: Sequence[str],
                 extra: Sequence[str] = ()) -> list[str]:
    """`run` for one rank: argv inside `image`. Variables reach it by name (`--env NAME`, the value from the
    runtime's own environment), never on the command line, except for Apptainer, which has no such form."""
    names = passed_names(env)
    if runtime.kind is RuntimeKind.APPTAINER:
        args = ["exec", "--containall", "--cleanenv", "--pwd", workdir]
        args += [a for src, dst, rw in mounts for a in ("--bind", f"{src}:{dst}" + ("" if rw else ":ro"))]
        args += ["--nv"] if gpus else []
        args += [a for n in names for a in ("--env", f"{n}={env[n]}")]
        return runtime.command(*args, *extra, image if "://" in image else f"docker://{image}", *argv)
    args = ["run", "--rm", "--name", name, "--network", "host", "--shm-size", shm_size, "--workdir", workdir,
            "--init"]
    args += [a for src, dst, rw in mounts for a in ("--volume", f"{src}:{dst}:" + ("rw" if rw else "ro"))]
    args += [a for n in names for a in ("--env", n)]
    args += _identity(runtime) + _limits(runtime) + _gpus(runtime, gpus)
    return runtime.command(*args, *extra, image, *argv)


def passed_names(env: Mapping[str, str]) -> list[str]:
    """The variables a rank's container gets: the job's own and runyard's rank contract."""
    job = set(filter(None, env.get("RUNYARD_JOB_VARIABLES", "").split(",")))
    return sorted(n for n in env if n in job or n in PASSED_NAMES or n.startswith(PASSED_PREFIXES))


def inside_argv(argv: Sequence[str], interpreter: str | None) -> list[str]:
    """The rank's command inside the image: its interpreter_path when user-managed, else the image's python3
    (or python); a shell command as it is."""
    if list(argv[:2]) == ["/bin/bash", "-c"]:
        return list(argv)
    if interpreter:
        return [interpreter, *argv[1:]]
    return ["/bin/sh", "-c", 'exec "$(command -v python3 || command -v python)" "$@"', "python", *argv[1:]]


def _identity(runtime: ContainerRuntime) -> list[str]:
    """Files the rank writes are the caller's: root's when root runs it, else the user's own."""
    if os.geteuid() == 0:
        return []
    if runtime.kind is RuntimeKind.PODMAN:
        return ["--userns", "keep-id"]
    return ["--user", f"{os.getuid()}:{os.getgid()}"]


def _limits(runtime: ContainerRuntime) -> list[str]:
    """No higher than this process's own: raising a limit needs a privilege a container here may lack."""
    if runtime.kind is not RuntimeKind.PODMAN:
        return []
    files = resource.getrlimit(resource.RLIMIT_NOFILE)
    procs = [PODMAN_NPROC_CEILING if v == resource.RLIM_INFINITY else min(v, PODMAN_NPROC_CEILING)
             for v in resource.getrlimit(resource.RLIMIT_NPROC)]
    return ["--ulimit", f"nofile={files[0]}:{files[1]}", "--ulimit", f"nproc={procs[0]}:{procs[1]}"]


def _gpus(runtime: ContainerRuntime, gpus: Sequence[str]) -> list[str]:
    """Only the rank's own GPUs inside: CDI names for Podman (nvidia-container-toolkit), --gpus for Docker."""
    if not gpus:
        return []
    if runtime.kind is RuntimeKind.PODMAN:
        return [a for g in gpus for a in ("--device", f"nvidia.com/gpu={g}")]
    return ["--gpus", '"device=' + ",".join(gpus) + '"']
