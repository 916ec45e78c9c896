"""How a Slurm target runs a container run's ranks: pyxis (`srun --container-image`) when the cluster has it,
else Apptainer/Singularity, else Podman (or Docker) on the nodes; `containers=` in the attach configuration
picks one. With pyxis the node agent itself runs in the container (the image's python3, runyard mounted in);
with the others the agent runs on the node and starts each rank in its own container."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from enum import Enum

from runyard.errors import ComputeTargetException, InvalidValueError
from runyard.launch.containers import KIT_DIR, run_mounts
from runyard.spec import ContainerSpec


class SlurmContainers(str, Enum):
    AUTO = "auto"
    PYXIS = "pyxis"
    APPTAINER = "apptainer"
    PODMAN = "podman"
    DOCKER = "docker"

    @classmethod
    def parse(cls, value: object) -> SlurmContainers:
        try:
            return cls(str(value or "auto").lower())
        except ValueError:
            raise InvalidValueError("containers", value, "is not a way to run containers on Slurm",
                                    f"pass one of {', '.join(c.value for c in cls)}") from None


def choose(wanted: SlurmContainers) -> SlurmContainers:
    """The way this cluster has: pyxis first (srun knows --container-image), then Apptainer, then Podman/Docker."""
    if wanted is not SlurmContainers.AUTO:
        return wanted
    try:
        help_text = subprocess.run(["srun", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        help_text = ""
    if "--container-image" in help_text:
        return SlurmContainers.PYXIS
    for binary, way in (("apptainer", SlurmContainers.APPTAINER), ("singularity", SlurmContainers.APPTAINER),
                        ("podman", SlurmContainers.PODMAN), ("docker", SlurmContainers.DOCKER)):
        if shutil.which(binary):
            return way
    raise ComputeTargetException("this run asks for a container, and this Slurm cluster has neither pyxis (srun "
                                 "--container-image) nor apptainer, singularity, podman or docker on PATH. Fix: "
                                 "install one on the nodes, or leave docker off to run in a virtual environment")


def runtime_binary(way: SlurmContainers) -> str:
    """What the node agents start ranks with (RUNYARD_CONTAINER_RUNTIME), for the ways that are not pyxis."""
    if way is SlurmContainers.APPTAINER:
        return "singularity" if shutil.which("singularity") and not shutil.which("apptainer") else "apptainer"
    return way.value


def pyxis_srun_options(container: ContainerSpec, image: str, run_dir: str, workspace: str) -> str:
    """srun's pyxis options: the image, the same mounts a rank container gets, the working folder."""
    mounts = run_mounts({"RUNYARD_WORKSPACE": workspace, "RUNYARD_RUN_DIR": run_dir})
    listed = ",".join(f"{src}:{dst}" + ("" if rw else ":ro") for src, dst, rw in mounts)
    return (f"--container-image={shlex.quote(image)} --container-mounts={shlex.quote(listed)} "
            f"--container-workdir={shlex.quote(run_dir + '/wd')} --export=ALL,PYTHONPATH={KIT_DIR}")
