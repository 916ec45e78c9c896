"""The supervisor fork server: a run's supervisor forked from a per-user server that has runyard imported,
seen as a real process (its own session, its own command line, the submitter's environment), never
running changed code, and off when asked."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runyard import Experiment, ScriptRunConfig
from runyard.supervisor_start import runtime_dir
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]

WAITING_SCRIPT = """
    import os, sys, time
    from pathlib import Path
    print("MARK=" + os.environ.get("FORK_TEST_MARK", "unset"), flush=True)
    release = Path(sys.argv[1])
    deadline = time.time() + 120
    while not release.exists() and time.time() < deadline:
        time.sleep(0.02)
"""


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private socket folder for this test (short: a socket path holds ~104 bytes), its servers stopped after."""
    folder = Path(tempfile.mkdtemp(prefix="ry-fs-", dir="/tmp"))
    monkeypatch.setenv("RUNYARD_RUNTIME_DIR", str(folder))
    yield folder
    for p in _servers(folder):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    shutil.rmtree(folder, ignore_errors=True)


def _servers(folder: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "runyard.supervisor_server" in cmd and str(folder) in cmd:
            found.append(p)
    return found


def _started_by(run) -> str:
    return json.loads(run.folder.supervisor_file.read_text())["started_by"]


def _serving(folder: Path) -> Path:
    return eventually(lambda: next(iter(folder.glob("fs-*.sock")), None), "a fork server's socket")


def test_a_forked_supervisor_is_a_real_process_with_the_submitters_environment(
        workspace, project, runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = project("wait.py", WAITING_SCRIPT)
    release = tmp_path / "release"
    exp = Experiment(workspace, "fork")
    monkeypatch.setenv("FORK_TEST_MARK", "first")
    first = exp.submit(ScriptRunConfig(str(src), "wait.py", arguments=[str(release)]))
    assert _started_by(first) == "new process"  # no server yet: this one starts it for the next run
    release.touch()
    first.wait_for_completion(show_output=False)
    _serving(runtime)
    release.unlink()

    monkeypatch.setenv("FORK_TEST_MARK", "second")  # set after the server started: it must come with the request
    second = exp.submit(ScriptRunConfig(str(src), "wait.py", arguments=[str(release)]))
    assert _started_by(second).startswith("fork server ")
    pid = json.loads(second.folder.supervisor_file.read_text())["pid"]
    supervisor = psutil.Process(pid)
    server = supervisor.parent()
    assert server is not None and "runyard.supervisor_server" in " ".join(server.cmdline())
    assert f"fork server {server.pid}" == _started_by(second)
    # what ps, pgrep and the tools that find a run's processes see
    assert "-m runyard.supervisor " in " ".join(supervisor.cmdline())
    assert str(second.folder.path) in " ".join(supervisor.cmdline())
    assert os.getsid(pid) == pid  # its own session: a signal to the submitter's group does not reach it
    assert Path(supervisor.cwd()) == second.folder.path

    server.kill()  # the server going away leaves a run it forked running
    server.wait(10)
    assert supervisor.is_running()
    release.touch()
    second.wait_for_completion(show_output=False)
    assert second.get_status() == "Completed"
    logs = {run.id: "".join(p.read_text() for p in run.folder.path.rglob("*.txt")) for run in (first, second)}
    assert "MARK=first" in logs[first.id]
    assert "MARK=second" in logs[second.id]


def test_a_changed_module_retires_its_server_and_runs_still_start(tmp_path: Path, runtime: Path) -> None:
    """Never old code: touching a runyard file the server imported makes the next submit start the supervisor
    as a new process, the old server leave, and a new one serve the run after."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "runyard", copy / "runyard", ignore=shutil.ignore_patterns("__pycache__"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "hello.py").write_text("print('hello')\n")
    submitter = textwrap.dedent(f"""
        import json, sys
        import runyard
        assert runyard.__file__.startswith({str(copy)!r}), runyard.__file__
        from runyard import Experiment, ScriptRunConfig, Workspace
        run = Experiment(Workspace({str(tmp_path / 'ws')!r}), "fork").submit(ScriptRunConfig({str(project)!r}, "hello.py"))
        run.wait_for_completion()
        print(json.dumps({{"status": run.get_status(), "started_by": json.loads(run.folder.supervisor_file.read_text())["started_by"]}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(copy), "RUNYARD_RUNTIME_DIR": str(runtime)}

    def submit() -> dict[str, str]:
        out = subprocess.run([sys.executable, "-c", submitter], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert submit() == {"status": "Completed", "started_by": "new process"}
    _serving(runtime)
    forked = submit()
    assert forked["status"] == "Completed" and forked["started_by"].startswith("fork server ")
    old_server = int(forked["started_by"].split()[-1])

    target = copy / "runyard" / "supervisor.py"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert submit() == {"status": "Completed", "started_by": "new process"}
    eventually(lambda: not psutil.pid_exists(old_server) or psutil.Process(old_server).status() == "zombie",
               "the stale server to leave")
    eventually(lambda: [p for p in _servers(runtime) if p.pid != old_server], "a new server")
    _serving(runtime)
    again = submit()
    assert again["status"] == "Completed"
    assert again["started_by"].startswith("fork server ") and again["started_by"] != forked["started_by"]


def test_the_switch_turns_it_off(workspace, project, runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = project("hello.py", "print('hi')\n")
    exp = Experiment(workspace, "fork")
    exp.submit(ScriptRunConfig(str(src), "hello.py")).wait_for_completion()
    _serving(runtime)
    monkeypatch.setenv("RUNYARD_FORK_SERVER", "0")
    run = exp.submit(ScriptRunConfig(str(src), "hello.py"))
    assert _started_by(run) == "new process"
    run.wait_for_completion()
    assert run.get_status() == "Completed"


def test_a_socket_folder_others_can_reach_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("RUNYARD_RUNTIME_DIR", str(shared))
    assert runtime_dir() is None
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(private)
    monkeypatch.setenv("RUNYARD_RUNTIME_DIR", str(link))
    assert runtime_dir() is None  # a symlink could be swapped for someone else's folder
    monkeypatch.setenv("RUNYARD_RUNTIME_DIR", str(private))
    assert runtime_dir() == private


def test_a_canceled_forked_supervisor_stops_its_ranks(workspace, project, runtime: Path, tmp_path: Path) -> None:
    src = project("wait.py", WAITING_SCRIPT)
    exp = Experiment(workspace, "fork")
    (tmp_path / "go").touch()
    exp.submit(ScriptRunConfig(str(src), "wait.py", arguments=[str(tmp_path / "go")])).wait_for_completion()
    _serving(runtime)
    run = exp.submit(ScriptRunConfig(str(src), "wait.py", arguments=[str(tmp_path / "never")]))
    assert _started_by(run).startswith("fork server ")
    eventually(lambda: run.get_status() == "Running", "the run to start")
    pid = json.loads(run.folder.supervisor_file.read_text())["pid"]
    run.cancel()
    assert run.get_status() == "Canceled"
    eventually(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
               "the supervisor to end", timeout=30)
