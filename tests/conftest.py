"""Shared fixtures: a fresh workspace per test and a helper that writes a project folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


# the files that take longest (clusters, containers, restarts) start first, so that with workers (pytest-xdist,
# scripts/test.sh) none of them is left to run alone at the end
SLOW_FILES = ("test_slurm.py", "test_ray.py", "test_containers.py", "test_resilience.py", "test_distributed.py",
              "test_ui_scale.py", "test_cli_conventions.py", "test_crash_consistency.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # stable: each file keeps its order


@pytest.fixture(scope="session")
def _fork_server_folder() -> Iterator[Path]:
    """This test session's own folder for supervisor fork servers: the tests never use (or stop) the user's
    servers, and parallel sessions (pytest-xdist workers) never stop each other's. Its servers go with it."""
    folder = Path(tempfile.mkdtemp(prefix="ry-", dir="/tmp"))  # short: a socket path holds ~104 bytes
    yield folder
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            command = " ".join(p.info["cmdline"] or [])
            if "runyard.supervisor_server" in command and str(folder) in command:
                p.terminate()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, _fork_server_folder: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("RUNYARD_", "AZUREML_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RUNYARD_RUNTIME_DIR", str(_fork_server_folder))


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[object]:
    from runyard import Workspace

    # a shell-hostile path (spaces, quotes) catches quoting bugs in commands we build
    ws = Workspace(tmp_path / "my work's space")
    yield ws
    deadline = time.time() + 3  # a supervisor exits a moment after writing the final status
    while (leftovers := processes_of(ws.path)) and time.time() < deadline:
        time.sleep(0.05)
    for p in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):  # it may end (or be a zombie) by now
            p.kill()
    assert not leftovers, f"processes outlived the test: {[p.cmdline() for p in leftovers]}"


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """project("train.py", "print(1)", ...) -> a folder holding those files (dedented)."""

    def make(*files: str, name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        for rel, text in zip(files[::2], files[1::2]):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return root

    return make


def processes_of(workspace_path: Path) -> list[psutil.Process]:
    """Every live process started for runs of this workspace (supervisors and ranks)."""
    found = []
    marker = str(workspace_path)
    for p in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE or p.pid == os.getpid():
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
            if marker in cmd or marker in env.get("RUNYARD_RUN_DIR", ""):
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


PYTHON = sys.executable


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (scripts/postgres_cluster.sh) for the whole test session: its URI."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):  # CI installs it (scripts/setup.sh): its absence there is a failure
            pytest.fail("PostgreSQL is not installed; scripts/setup.sh should have installed it")
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it)")
    folder = tempfile.mkdtemp(prefix="runyard-pg-", dir="/tmp")  # /tmp: the postgres user can reach it
    script = str(ROOT / "scripts" / "postgres_cluster.sh")
    up = subprocess.run(["bash", script, "up", folder], capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, f"the test PostgreSQL cluster did not start: {up.stderr}"
    try:
        yield up.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", script, "down", folder], capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_uri(postgres_server: str) -> str:
    """A new, empty database on the test cluster: its store URI."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint on loopback (moto's server) for the whole session: its URL."""
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists():
        pytest.skip("moto's server is not installed (the test extra installs it)")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


# runs in containers: Podman with storage of its own in a temp dir, holding a Debian image made without a registry
IMAGE = "localhost/runyard-test-debian:bookworm"
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--events-backend=file"]


@pytest.fixture(scope="session")
def podman_storage(tmp_path_factory):
    """Podman storage of its own in a temp dir, holding the test image; everything of it removed after."""
    folder = tmp_path_factory.mktemp("podman")
    made = subprocess.run(["bash", str(ROOT / "scripts" / "container_image.sh"), str(folder)], capture_output=True,
                          text=True, timeout=900)
    assert made.returncode == 0, made.stderr
    conf = str(folder / "storage.conf")
    before = os.environ.get("CONTAINERS_STORAGE_CONF")
    os.environ["CONTAINERS_STORAGE_CONF"] = conf  # runyard's supervisors and agents inherit it
    try:
        yield conf
    finally:
        subprocess.run([*PODMAN, "rm", "--all", "--force"], capture_output=True, timeout=120)
        if before is None:
            os.environ.pop("CONTAINERS_STORAGE_CONF", None)
        else:
            os.environ["CONTAINERS_STORAGE_CONF"] = before
        for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith(str(folder)):
                subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
