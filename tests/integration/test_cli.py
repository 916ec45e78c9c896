"""The runyard command, run as a user would: a real subprocess, its output and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def cli(workspace, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_submit_wait_runs_show_metrics_logs_download(workspace, project, tmp_path):
    src = project("train.py", """
        import sys
        from runyard import Run
        run = Run.get_context()
        run.log("acc", 0.75)
        print("got", sys.argv[1:])
        import os; os.makedirs("outputs", exist_ok=True); open("outputs/m.txt", "w").write("m")
    """)
    done = cli(workspace, "submit", "train.py", "--source-dir", str(src), "-e", "clitest", "--wait", "--",
               "--lr", "0.1")
    assert done.returncode == 0, done.stderr
    assert "got ['--lr', '0.1']" in done.stdout and "Execution Summary" in done.stdout
    run_id = done.stdout.split()[1]

    runs = cli(workspace, "runs")
    assert runs.returncode == 0 and run_id in runs.stdout and "Completed" in runs.stdout and "0.75" in runs.stdout
    listed = json.loads(cli(workspace, "runs", "--json", "--status", "Completed").stdout)
    assert [r["runId"] for r in listed] == [run_id] and listed[0]["metrics"] == {"acc": 0.75}

    show = cli(workspace, "show", run_id[:-3])  # a unique prefix is enough
    assert show.returncode == 0 and "Queued -> Preparing" in show.stdout and "outputs/m.txt" in show.stdout
    assert json.loads(cli(workspace, "metrics", run_id, "--json").stdout) == {"acc": 0.75}
    assert "got ['--lr', '0.1']" in cli(workspace, "logs", run_id).stdout
    out = tmp_path / "dl"
    assert cli(workspace, "download", run_id, "outputs", "-o", str(out)).returncode == 0
    assert (out / "outputs" / "m.txt").read_text() == "m"


def test_exit_codes_for_failed_canceled_and_unknown(workspace, project):
    failing = project("train.py", "raise SystemExit(4)\n", name="failing")
    done = cli(workspace, "submit", "train.py", "--source-dir", str(failing), "--wait")
    assert done.returncode == 1 and "rank 0 exited with code 4" in done.stdout

    slow = project("train.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n", name="slow")
    submitted = cli(workspace, "submit", "train.py", "--source-dir", str(slow))
    assert submitted.returncode == 0
    run_id = submitted.stdout.split()[1]
    follower = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "logs",
                                 run_id, "-f"], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60  # the script has started before it is canceled
    while "started" not in cli(workspace, "logs", run_id).stdout and time.time() < deadline:
        time.sleep(0.2)
    canceled = cli(workspace, "cancel", run_id)
    assert canceled.returncode == 0 and "Canceled" in canceled.stdout
    assert follower.wait(timeout=30) == 3  # logs -f exits with the run's outcome
    assert "started" in follower.stdout.read()

    missing = cli(workspace, "show", "nope")
    assert missing.returncode == 1 and "run_id='nope'" in missing.stderr and "Fix:" in missing.stderr
    assert cli(workspace, "bogus").returncode == 2
