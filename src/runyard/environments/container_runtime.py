"""Which container runtime this machine has (Podman, Docker, Apptainer), and how runyard calls it.

Podman needs no daemon; on a machine without systemd (containers, CI runners) it is told to manage cgroups
itself and log events to a file, and on cgroup v1 it uses runc (crun refuses hybrid layouts).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from runyard.errors import ComputeTargetException

RUNTIME_ENV = "RUNYARD_CONTAINER_RUNTIME"   # podman, docker, apptainer, or a path to one of them
IMAGE_ENV = "RUNYARD_CONTAINER_IMAGE"       # the image the run's ranks use, once Preparing has it
INSTALL_HINT = ("install Podman (`apt-get install podman runc`; no daemon needed) or Docker, or name one with "
                f"{RUNTIME_ENV}=/path/to/podman")


class RuntimeKind(str, Enum):
    PODMAN = "podman"
    DOCKER = "docker"
    APPTAINER = "apptainer"


@dataclass(frozen=True)
class ContainerRuntime:
    kind: RuntimeKind
    binary: str
    global_options: tuple[str, ...] = ()

    @classmethod
    def find(cls, configured: str | None = None) -> ContainerRuntime:
        """The runtime named (a name or a path), else Podman, else Docker, else Apptainer/Singularity on PATH."""
        candidates = [configured] if configured else ["podman", "docker", "apptainer", "singularity"]
        for name in candidates:
            binary = shutil.which(name) if name else None
            if binary is None:
                continue
            stem = Path(binary).name
            kind = RuntimeKind.APPTAINER if stem in ("apptainer", "singularity") else \
                RuntimeKind.DOCKER if stem.startswith("docker") else RuntimeKind.PODMAN
            return cls(kind, binary, _podman_options() if kind is RuntimeKind.PODMAN else ())
        where = f"{configured!r} was not found on PATH" if configured else \
            "no container runtime (podman, docker, apptainer) is on PATH"
        raise ComputeTargetException(f"this run asks for a container (its environment's Docker settings) but "
                                     f"{where}: {INSTALL_HINT}, or leave docker off to run in a virtual environment")

    def command(self, *args: str) -> list[str]:
        return [self.binary, *self.global_options, *args]

    def image_exists(self, image: str) -> bool:
        if self.kind is RuntimeKind.APPTAINER:
            return True  # apptainer pulls docker:// images itself, into its own cache
        args = ("image", "exists", image) if self.kind is RuntimeKind.PODMAN else ("image", "inspect", image)
        return subprocess.run(self.command(*args), capture_output=True, timeout=120).returncode == 0

    def main_pid(self, name: str) -> int | None:
        """The host pid of a running container's first process (its init, above the script), or None."""
        if self.kind is RuntimeKind.APPTAINER:
            return None  # apptainer's processes are the client's own children: its tree is the rank's
        done = subprocess.run(self.command("inspect", "--format", "{{.State.Pid}}", name), capture_output=True,
                              text=True, timeout=30)
        try:
            pid = int(done.stdout.strip() or 0)
        except ValueError:
            return None
        return pid if done.returncode == 0 and pid > 0 else None

    def remove(self, names: Sequence[str]) -> None:
        """Make sure the named containers are gone (a runtime killed with SIGKILL leaves its container)."""
        if not names or self.kind is RuntimeKind.APPTAINER:
            return
        subprocess.run(self.command("rm", "--force", *(["--ignore"] if self.kind is RuntimeKind.PODMAN else []),
                                    *names), capture_output=True, timeout=120)


def _podman_options() -> tuple[str, ...]:
    """What Podman needs on a machine without systemd (containers, CI runners) or with cgroup v1."""
    options: list[str] = []
    try:
        init = Path("/proc/1/comm").read_text().strip()
    except OSError:
        init = ""
    if init != "systemd":
        options += ["--cgroup-manager=cgroupfs", "--events-backend=file"]
    unified = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    if not unified and shutil.which("runc"):
        options += ["--runtime", shutil.which("runc") or "runc"]  # crun refuses cgroup v1 hybrid layouts
    return tuple(options)
