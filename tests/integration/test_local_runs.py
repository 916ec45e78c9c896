"""Real runs on the local target: real supervisor and rank processes, a real SQLite store."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from runyard import Experiment, Run, ScriptRunConfig, Workspace
from runyard.errors import ActivityFailedException
from runyard.run_output import wait_and_stream
from runyard.train.dnn import PyTorch
from tests.conftest import processes_of
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TRAIN = """
    import json, os, sys
    from runyard import Run
    run = Run.get_context()
    print("args", json.dumps(sys.argv[1:]))
    for step in range(5):
        run.log("loss", 1.0 / (step + 1), step=step)
    run.log("accuracy", 0.9)
    run.log_list("lrs", [0.1, 0.01])
    run.log_row("confusion", tp=3, fp=1)
    run.tag("phase", "test")
    run.add_properties({"model": "mlp"})
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.txt", "w").write("weights")
    os.makedirs("logs", exist_ok=True)
    open("logs/extra.log", "w").write("log line")
    print("data", os.environ.get("AZUREML_DATAREFERENCE_workspaceblobstore_inputs"))
"""


def wait_for_log(run: Run, text: str, timeout: float = 30.0) -> None:
    log = run.folder.rank_log(0)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and text in log.read_text(errors="ignore"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} did not appear in {log} within {timeout}s")


def wait(run: Run, **kw):
    return run.wait_for_completion(show_output=False, **kw)


def test_seed_example_runs_end_to_end(workspace: Workspace, project):
    src = project("train.py", TRAIN)
    ds = workspace.get_default_datastore()
    data = project("x.csv", "1,2\n", name="data")
    ds.upload(str(data), target_path="inputs", show_progress=False)
    est = PyTorch(source_directory=str(src), script_params={"--data_dir": ds.path("inputs"), "--epochs": 2, "--v": ""},
                  compute_target="local", entry_script="train.py")
    run = Experiment(workspace, "seed").submit(est, tags={"by": "test"})
    assert run.get_status() in ("Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed")
    details = wait(run)
    assert details["status"] == "Completed"
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert metrics["accuracy"] == 0.9 and metrics["lrs"] == [0.1, 0.01]
    assert metrics["confusion"] == {"tp": [3], "fp": [1]}
    assert run.get_metrics(name="accuracy") == {"accuracy": 0.9}
    assert run.get_tags() == {"by": "test", "phase": "test"}
    assert run.get_properties()["model"] == "mlp"
    names = run.get_file_names()
    assert {"outputs/model.txt", "logs/extra.log", "user_logs/std_log_rank_0.txt"} <= set(names)
    log = (run.folder.user_logs / "std_log_rank_0.txt").read_text()
    data_path = str(workspace.path / "datastores" / "workspaceblobstore" / "inputs")
    assert "args " + json.dumps(["--data_dir", data_path, "--epochs", "2", "--v"]) in log
    assert f"data {data_path}" in log
    assert details["runDefinition"]["arguments"][:2] == ["--data_dir", "$AZUREML_DATAREFERENCE_workspaceblobstore_inputs"]
    assert details["properties"]["ContentSnapshotId"] == run._record().snapshot_digest
    assert details["startTimeUtc"] and details["endTimeUtc"] and details["target"] == "local"
    assert "user_logs/std_log_rank_0.txt" in details["logFiles"]
    statuses = [e["status"] for e in details["statusHistory"]]
    assert statuses == ["Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"]


def test_same_snapshot_reuses_blobs(workspace, project):
    src = project("train.py", "print(1)\n", "util.py", "X = 1\n")
    exp = Experiment(workspace, "snap")
    first = exp.submit(PyTorch(str(src), entry_script="train.py"))
    blobs = sorted(workspace.blobs.root.rglob("*"))
    second = exp.submit(PyTorch(str(src), entry_script="train.py"))
    assert sorted(workspace.blobs.root.rglob("*")) == blobs
    wait(first), wait(second)
    assert first.get_details()["properties"]["ContentSnapshotId"] == second.get_details()["properties"]["ContentSnapshotId"]


def test_run_goes_on_after_the_submitting_process_exits(workspace, project):
    src = project("train.py", "import time\nfrom runyard import Run\ntime.sleep(2)\nRun.get_context().log('done', 1)\n")
    submitter = textwrap.dedent(f"""
        from runyard import Workspace, Experiment
        from runyard.train.dnn import PyTorch
        ws = Workspace({str(workspace.path)!r})
        run = Experiment(ws, "detached").submit(PyTorch({str(src)!r}, entry_script="train.py"))
        print(run.id)
    """)
    out = subprocess.run([sys.executable, "-c", submitter], capture_output=True, text=True, timeout=60, check=True)
    run = Run.get(workspace, out.stdout.strip())  # another process, given only the run id
    assert run.get_status() != "Completed"
    assert wait(run)["status"] == "Completed"
    assert run.get_metrics() == {"done": 1}


def test_failing_script_fails_the_run_with_its_traceback(workspace, project):
    src = project("train.py", "from runyard import Run\nRun.get_context().log('before', 1)\n"
                              "def step():\n    raise ValueError('bad batch 7')\nstep()\n")
    run = Experiment(workspace, "fail").submit(PyTorch(str(src), entry_script="train.py"))
    with pytest.raises(ActivityFailedException) as info:
        wait(run)
    assert "rank 0 exited with code 1" in str(info.value)
    assert "ValueError: bad batch 7" in str(info.value) and "Traceback" in str(info.value)
    assert run.get_status() == "Failed"
    assert run.get_metrics() == {"before": 1}  # what it logged before failing is kept
    details = wait(run, raise_on_error=False)
    assert "bad batch 7" in details["error"]["error"]["message"]


def test_show_output_streams_lines_while_the_run_is_running(workspace, project):
    src = project("train.py", """
        import os, time
        print("first line", flush=True)
        deadline = time.time() + 60
        while not os.path.exists("../go") and time.time() < deadline:
            time.sleep(0.05)
        print("after go" if os.path.exists("../go") else "timed out waiting")
    """)
    run = Experiment(workspace, "stream").submit(PyTorch(str(src), entry_script="train.py"))

    class Watcher(io.StringIO):
        def write(self, text):  # the script only goes on once we have seen its first line
            if "first line" in text:
                (run.folder.path / "go").touch()
            return super().write(text)

    out = Watcher()
    wait_and_stream(run, show_output=True, raise_on_error=True, out=out)
    text = out.getvalue()
    assert text.index("first line") < text.index("after go")
    assert "Execution Summary" in text and "Status: Completed" in text


def test_cancel_in_the_middle_leaves_no_process(workspace, project):
    src = project("train.py", """
        import subprocess, sys, time
        from runyard import Run
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # a DataLoader-like child
        run = Run.get_context()
        for i in range(600):
            run.log("tick", i)
            print("tick", i, flush=True)
            time.sleep(0.1)
    """)
    run = Experiment(workspace, "cancel").submit(PyTorch(str(src), entry_script="train.py"))
    wait_for_log(run, "tick 3")
    assert len(processes_of(workspace.path)) >= 2
    run.cancel()
    assert run.get_status() == "Canceled"
    eventually(lambda: processes_of(workspace.path) == [], "the run's processes to be gone")
    assert isinstance(run.get_metrics()["tick"], list)  # metrics up to the cancel are kept


def test_killed_supervisor_ends_the_run_failed_and_its_ranks(workspace, project):
    src = project("train.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    run = Experiment(workspace, "orphan").submit(PyTorch(str(src), entry_script="train.py"))
    deadline = time.time() + 30
    while run.get_status() != "Running" and time.time() < deadline:
        time.sleep(0.05)
    pid = json.loads(run.folder.supervisor_file.read_text())["pid"]
    psutil.Process(pid).kill()
    eventually(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               "the supervisor to die")
    assert run.get_status() == "Failed"
    assert "supervisor" in run.get_details()["error"]["error"]["message"]
    eventually(lambda: processes_of(workspace.path) == [], "the orphaned ranks to be gone")


def test_max_run_duration_stops_the_run(workspace, project):
    src = project("train.py", "import time\ntime.sleep(600)\n")
    run = Experiment(workspace, "limit").submit(PyTorch(str(src), entry_script="train.py", max_run_duration_seconds=1))
    details = wait(run, raise_on_error=False)
    assert details["status"] == "Failed" and "max_run_duration_seconds=1" in details["error"]["error"]["message"]


def test_data_references_download_and_upload(workspace, project):
    src = project("train.py", """
        import os, sys
        src, dst = sys.argv[2], sys.argv[4]
        data = open(os.path.join(src, "x.txt")).read()
        open(os.path.join(dst, "result.txt"), "w").write(data.upper())
    """)
    ds = workspace.get_default_datastore()
    ds.upload(str(project("x.txt", "hello", name="d")), target_path="in", show_progress=False)
    cfg = ScriptRunConfig(str(src), "train.py",
                          arguments=["--in", ds.path("in").as_download(), "--out",
                                     ds.path("out").as_upload(path_on_compute="results")])
    run = Experiment(workspace, "data").submit(cfg)
    assert wait(run)["status"] == "Completed"
    assert (ds.root / "out" / "result.txt").read_text() == "HELLO"
    target = workspace.path / "downloaded"
    ds.download(str(target), prefix="out", show_progress=False)
    assert (target / "out" / "result.txt").read_text() == "HELLO"


def test_files_can_be_uploaded_and_downloaded(workspace, project, tmp_path):
    src = project("train.py", "import os\nos.makedirs('outputs/sub', exist_ok=True)\n"
                              "open('outputs/sub/w.bin','wb').write(b'w')\n")
    run = Experiment(workspace, "files").submit(PyTorch(str(src), entry_script="train.py"))
    wait(run)
    extra = tmp_path / "notes.txt"
    extra.write_text("n")
    run.upload_file("outputs/notes.txt", str(extra))
    assert {"outputs/sub/w.bin", "outputs/notes.txt"} <= set(run.get_file_names())
    run.download_file("outputs/sub/w.bin", str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == b"w"
    run.download_files(prefix="outputs", output_directory=str(tmp_path / "all"))
    assert (tmp_path / "all" / "outputs" / "notes.txt").read_text() == "n"
    with pytest.raises(Exception, match="without '..'"):
        run.upload_file("../escape.txt", str(extra))


def test_experiment_lists_its_runs_and_tags_filter(workspace, project):
    src = project("train.py", "print(1)\n")
    exp = Experiment(workspace, "listing")
    a = exp.submit(PyTorch(str(src), entry_script="train.py"), tags={"kind": "a"})
    b = exp.submit(PyTorch(str(src), entry_script="train.py"))
    wait(a), wait(b)
    assert [r.id for r in exp.get_runs()] == [b.id, a.id]
    assert [r.id for r in exp.get_runs(tags={"kind": "a"})] == [a.id]
    assert set(workspace.experiments) == {"listing"}


def test_offline_context_prints(capsys):
    run = Run.get_context()
    run.log("loss", 0.5)
    assert "Attempted to log scalar metric loss:\n0.5" in capsys.readouterr().out
    assert run.id.startswith("OfflineRun_")
