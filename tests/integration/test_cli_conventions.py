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
    for command in ("submit", "runs", "logs", "show", "server", "completion", "models", "datastores", "env",
                    "compute", "export", "import"):
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
    assert result.returncode == 2 and "SCRIPT 'missing.py' does not exist" in result.stderr and "Fix:" in result.stderr
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
    # Ctrl-C as a terminal sends it, even when these tests run in a background job (which ignores SIGINT)
    proc = subprocess.Popen([*CLI, "-w", str(workspace.path), "submit", "chatty.py", "--source-dir", str(src),
                             "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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


def test_the_portal_url_is_the_ui_actually_serving_the_workspace(workspace, tmp_path, monkeypatch):
    from runyard import Experiment
    from runyard.portal import DEFAULT_PORT
    from runyard.widgets import RunDetails
    from tests.web import start_server

    monkeypatch.chdir(tmp_path)
    run = Experiment(workspace, "portal").start_logging()
    assert run.get_portal_url().startswith(f"http://127.0.0.1:{DEFAULT_PORT}/#/run/")  # nothing serving: the default
    proc, base = start_server(workspace)
    try:
        assert run.get_portal_url() == f"{base}/#/run/{run.id}"
        assert f"Live charts and logs: {base}/#/run/{run.id}" in RunDetails(run).summary_lines()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert run.get_portal_url().startswith(f"http://127.0.0.1:{DEFAULT_PORT}/")
    run.complete()


def test_the_environment_build_streams_what_uv_prints_into_the_run_log(workspace, project):
    from runyard import Experiment
    from runyard.core import Environment, ScriptRunConfig
    from runyard.core.conda_dependencies import CondaDependencies

    src = project("probe.py", "import text_unidecode\nprint('imported', flush=True)\n")
    env = Environment("streamed")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["text-unidecode==1.3"])
    run = Experiment(workspace, "env").submit(ScriptRunConfig(str(src), "probe.py", environment=env))
    run.wait_for_completion()
    prepare = run.folder.prepare_log.read_text()
    assert "uv:  + text-unidecode==1.3" in prepare and "uv: Installed 1 package" in prepare


def test_uploads_and_downloads_draw_files_and_bytes_on_a_terminal(workspace, tmp_path):
    import io

    from rich.console import Console

    from runyard.data.progress import transfer

    screen = io.StringIO()
    with transfer("uploading", 2, 3000, True, console=Console(file=screen, force_terminal=True, width=100)) as bar:
        bar.advance(1000)
        bar.advance(2000)
    assert "uploading 2/2 files" in screen.getvalue() and "3.0/3.0 kB" in screen.getvalue()
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.bin").write_bytes(b"x" * 10)
    ds = workspace.get_default_datastore()
    ds.upload(str(data), target_path="p", show_progress=True)  # not a terminal here: the summary line only
    assert ds.download(str(tmp_path / "back"), prefix="p", show_progress=True) == 1


def test_tensorboard_event_files_from_run_log(workspace, project):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from runyard import Experiment
    from runyard.core import ScriptRunConfig

    src = project("train.py", """
        from runyard import Run
        run = Run.get_context()
        for step in range(5):
            run.log('loss', 1.0 / (step + 1), step=step)
        run.log('lr', 0.1)
        run.log('lr', 0.05)
        run.log('note', 'not a number')
    """)
    config = ScriptRunConfig(str(src), "train.py")
    config.run_config.environment_variables = {"RUNYARD_TENSORBOARD": "1"}
    run = Experiment(workspace, "tb").submit(config)
    run.wait_for_completion()
    events = EventAccumulator(str(run.folder.working_dir / "logs" / "tensorboard" / "rank_0"))
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [0, 1, 2, 3, 4] and abs(loss[-1].value - 0.2) < 1e-6
    assert [(e.step, round(e.value, 3)) for e in events.Scalars("lr")] == [(0, 0.1), (1, 0.05)]
    assert set(events.Tags()["scalars"]) == {"loss", "lr"}
    system = EventAccumulator(str(run.folder.working_dir / "logs" / "tensorboard" / "system_node_0"))
    system.Reload()  # the node's system metrics beside them, in a folder of their own
    stored = run.get_system_metrics()["system/cpu_utilization_percentage"]["node 0"]["mean"]
    written = [e.value for e in system.Scalars("system/cpu_utilization_percentage")]
    assert written == pytest.approx(stored, abs=1e-3)  # TensorBoard keeps float32
    dry = run_cli("-w", str(workspace.path), "tensorboard", run.id, "--dry-run")
    assert dry.returncode == 0 and str(run.folder.working_dir) in dry.stdout
    plain = Experiment(workspace, "tb").submit(ScriptRunConfig(str(src), "train.py"))
    plain.wait_for_completion()
    assert not (plain.folder.working_dir / "logs" / "tensorboard").exists()  # only when asked


def test_the_runs_table_fits_100_columns(workspace, project):
    from runyard import Experiment
    from runyard.core import ScriptRunConfig

    src = project("train.py", """
        from runyard import Run
        run = Run.get_context()
        for name in ('validation_accuracy', 'training_loss_smoothed', 'learning_rate_schedule', 'epoch_seconds'):
            run.log(name, 0.123456789)
    """)
    Experiment(workspace, "a-rather-long-experiment-name").submit(ScriptRunConfig(str(src), "train.py")) \
        .wait_for_completion()
    table = run_cli("-w", str(workspace.path), "runs")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0] == f"Workspace {workspace.name} ({workspace.path})"  # which workspace this is, first
    assert len(lines) == 3 and max(len(line) for line in lines[1:]) <= 100, table.stdout
    assert "ago" in lines[2] or "just now" in lines[2]
    assert lines[1].split()[:2] == ["RUN", "ID"] and "EXPERIMENT" in lines[1]  # headers whole, never cut


def test_mlflow_round_trip_keeps_params_metrics_and_tags(workspace, project, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from runyard import Experiment, Workspace
    from runyard.core import ScriptRunConfig

    src = project("train.py", """
        from runyard import Run
        import os
        run = Run.get_context()
        for step in range(6):
            run.log('loss', 1.0 / (step + 1), step=step * 10)
        run.log('accuracy', 0.9)
        run.tag('team', 'vision')
        os.makedirs('outputs', exist_ok=True)
        open('outputs/model.txt', 'w').write('weights')
    """)
    run = Experiment(workspace, "mlflow-trip").submit(ScriptRunConfig(str(src), "train.py",
                                                                      arguments=["--lr", 0.01, "--epochs", 6]))
    run.wait_for_completion()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # (MLflow keeps artifacts under ./mlruns of the working folder unless told otherwise: run it in tmp_path)
    exported = run_cli("-w", str(workspace.path), "export", run.id, "--to", "mlflow", uri, "--json", timeout=300,
                       cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    mlflow_id = json.loads(exported.stdout)[run.id]
    client = MlflowClient(tracking_uri=uri)
    there = client.get_run(mlflow_id)
    assert there.data.params == {"lr": "0.01", "epochs": "6"} and there.data.tags["team"] == "vision"
    assert [m.step for m in client.get_metric_history(mlflow_id, "loss")] == [0, 10, 20, 30, 40, 50]
    assert there.info.status == "FINISHED"
    # the run's system metrics under MLflow's system/ names, one point per 10-second window
    cpu = run.get_system_metrics()["system/cpu_utilization_percentage"]["node 0"]["mean"]
    assert [m.value for m in client.get_metric_history(mlflow_id, "system/cpu_utilization_percentage")] == cpu
    fresh = Workspace(tmp_path / "fresh")
    imported = run_cli("-w", str(fresh.path), "import", "--from", "mlflow", uri, "--json", timeout=300, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    from runyard.run import Run

    back = Run.get(fresh, json.loads(imported.stdout)[mlflow_id])
    assert back.get_status() == "Completed" and back.get_tags() == {"team": "vision"}
    assert back.get_metrics()["loss"] == run.get_metrics()["loss"] and back.get_metrics()["accuracy"] == 0.9
    assert sorted(back.get_metrics()) == ["accuracy", "loss"]  # system metrics come back apart, as such
    assert back.get_system_metrics()["system/cpu_utilization_percentage"]["node 0"]["mean"] == cpu
    assert back.get_metric_series("loss").steps == [0, 10, 20, 30, 40, 50]
    from runyard.spec import parameters_of

    assert parameters_of(back.get_details()["runDefinition"]["arguments"]) == {"lr": "0.01", "epochs": "6"}
    assert "outputs/model.txt" in back.get_file_names()
    again = run_cli("-w", str(fresh.path), "import", "--from", "mlflow", uri, "--json", timeout=300, cwd=tmp_path)
    assert json.loads(again.stdout) == {}  # imported once


def test_run_details_is_a_live_widget_in_a_notebook(workspace, project):
    pytest.importorskip("ipywidgets")
    from runyard import Experiment
    from runyard.core import ScriptRunConfig
    from runyard.widgets import RunDetails

    src = project("slow.py", """
        import time
        from runyard import Run
        run = Run.get_context()
        for step in range(8):
            run.log('loss', 1.0 / (step + 1), step=step)
            print('epoch', step, flush=True)
            time.sleep(0.3)
    """)
    run = Experiment(workspace, "widget").submit(ScriptRunConfig(str(src), "slow.py"))
    view = RunDetails(run).widget(interval=0.2)
    first = view.value
    assert f"Run {run.id}:" in first
    run.wait_for_completion()
    deadline = time.time() + 10
    while "Completed" not in view.value and time.time() < deadline:
        time.sleep(0.1)
    assert "Completed" in view.value and "epoch 7" in view.value and "loss" in view.value  # refreshed by itself
    assert view.value != first


def test_cli_errors_name_the_flags_and_the_nearest_script(workspace, project):
    src = project("train.py", "print('hi')\n", "eval.py", "print('e')\n")
    ws = str(workspace.path)
    typo = run_cli("-w", ws, "submit", "trian.py", "--source-dir", str(src))
    assert typo.returncode == 2
    assert "did you mean train.py?" in typo.stderr and "--source-dir" in typo.stderr, typo.stderr
    assert "entry_script=" not in typo.stderr
    layout = run_cli("-w", ws, "submit", "train.py", "--source-dir", str(src), "--procs-per-node", "2")
    assert layout.returncode == 2
    assert "--backend gloo" in layout.stderr and "--procs-per-node 2" in layout.stderr, layout.stderr
    assert "distributed_backend" not in layout.stderr
    assert not workspace.store.list_runs()  # nothing was recorded


def test_a_rank_missing_a_module_ends_with_the_fix_in_both_words(workspace, project):
    src = project("train.py", "import sklearn_not_here.sub\n")
    done = run_cli("-w", str(workspace.path), "submit", "train.py", "--source-dir", str(src), "--wait")
    assert done.returncode != 0
    fix = "Fix: the run's environment has no sklearn_not_here: add it with `runyard submit --pip sklearn_not_here`"
    assert fix in done.stdout + done.stderr
    run = workspace.store.list_runs()[0]
    from runyard import Run

    message = Run.get(workspace, run.run_id).get_details()["error"]["error"]["message"]
    assert "pip_packages=['sklearn_not_here'] (Python)" in message
