"""The `runyard` command follows the conventions of `gh`, `az ml` and `mlflow`: a version, `python -m`, help with an
example per command, completion, JSON for every listing, no workspace made by a read-only command, documented exit
codes, no traceback when the reader of its output goes away, and a clear word when the user presses Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from runyard import __version__

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "runyard"]


def run_cli(*args: str, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_version_python_m_help_with_examples_and_completion():
    assert run_cli("--version").stdout.strip() == f"runyard {__version__}"
    for command in ("submit", "runs", "logs", "show", "server", "completion"):
        help_text = run_cli(command, "--help").stdout
        assert "examples:" in help_text and f"runyard {command}" in help_text, command
    submit_help = run_cli("submit", "--help").stdout
    assert all(flag in submit_help for flag in ("--nodes N", "node count", "--pip", "--json"))
    script = run_cli("completion", "bash").stdout
    assert "complete -o default -F _runyard runyard" in script and "submit) opts=" in script
    completed = subprocess.run(["bash", "-c", script + "\nCOMP_WORDS=(runyard su); COMP_CWORD=1; _runyard; "
                                                       "echo ${COMPREPLY[@]}"], capture_output=True, text=True)
    assert completed.stdout.split() == ["submit"]


def test_read_only_commands_never_make_a_workspace(tmp_path):
    for args in (["runs"], ["experiments"], ["-w", str(tmp_path / "typo"), "runs"], ["show", "x"], ["models"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 1 and "no runyard workspace" in result.stderr, (args, result.stderr)
        assert "Fix:" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_validation_error_exits_2_and_a_busy_port_is_named(tmp_path):
    result = run_cli("submit", "missing.py", cwd=tmp_path)
    assert result.returncode == 2 and "entry_script='missing.py'" in result.stderr and "Fix:" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("-w", str(tmp_path / "ws"), "ui", "--port", str(port), cwd=tmp_path, timeout=30)
    assert result.returncode == 2 and f"port={port}" in result.stderr and f"--port {port + 1}" in result.stderr
    assert "http://" not in result.stdout  # nothing printed as if it were serving


def test_submit_json_and_every_listing_json(workspace, project):
    src = project("train.py", "from runyard import Run\nRun.get_context().log('acc', 0.5)\n")
    ws = ["-w", str(workspace.path)]
    submitted = run_cli(*ws, "submit", "train.py", "--source-dir", str(src), "-e", "cli", "--wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    details = json.loads(submitted.stdout)
    assert details["status"] == "Completed" and details["experiment"] == "cli"
    for listing in (["runs"], ["experiments"], ["models"], ["services"], ["datastores"], ["datasets"],
                    ["env", "list"], ["compute", "list"]):
        result = run_cli(*ws, *listing, "--json")
        assert result.returncode == 0, (listing, result.stderr)
        json.loads(result.stdout)
    assert [r["runId"] for r in json.loads(run_cli(*ws, "runs", "--json").stdout)] == [details["runId"]]


def test_a_closed_pipe_ends_quietly_and_ctrl_c_says_the_run_goes_on(workspace, project):
    src = project("chatty.py", "import time\nfor i in range(2000):\n    print('line', i, flush=True)\n"
                               "time.sleep(3)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = " ".join(shlex.quote(str(a)) for a in [*CLI, "-w", workspace.path, "submit", "chatty.py",
                                                      "--source-dir", src, "--wait"])
    piped = subprocess.run(f"{command} | head -3", shell=True, capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    assert len(piped.stdout.splitlines()) == 3
    proc = subprocess.Popen([*CLI, "-w", str(workspace.path), "submit", "chatty.py", "--source-dir", str(src),
                             "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and "line 1999" not in (proc.stdout.readline() or "line 1999"):
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "goes on" in err and "runyard logs" in err and "runyard cancel" in err
    run_id = err.split("run ")[1].split(" goes on")[0]
    from runyard.run import Run

    run = Run.get(workspace, run_id)
    run.wait_for_completion()
    assert run.get_status() == "Completed"  # the run went on without its follower
