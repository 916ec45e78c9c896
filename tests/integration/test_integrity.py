"""Nothing lost, nothing wedged: one bad value, one bad spool line, an old or damaged database, a failed
model registration. Each test is a reproduction of a way a run or a workspace used to break."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from runyard import Experiment, Workspace
from runyard.core import ScriptRunConfig
from runyard.errors import InvalidValueError, StoreError
from runyard.models.registry import Model
from runyard.store.sqlite import SqliteStore
from runyard.store.sqlite_migrations import SCHEMA_VERSION, backup_path
from tests.web import get, start_server

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store"
FIXTURE_RUN = "digits_1700000000_abcdefgh"


# -- values a script can pass ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [10**400, -(10**309)])
def test_an_integer_beyond_a_float_is_refused_at_log(workspace, tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with Experiment(workspace, "values").start_logging() as run:
        with pytest.raises(InvalidValueError, match=r"log\('big'\) value.*too large.*Fix: log it as a float"):
            run.log("big", value)
        run.log("big", 10**300)  # a float can hold it: stored
        run.log("ok", 1)
    assert run.get_metrics() == {"big": 1e300, "ok": 1}


@pytest.mark.parametrize("step", [2**63, -1, 1.5, "3"])
def test_a_step_out_of_range_is_refused_at_log(workspace, tmp_path, monkeypatch, step):
    monkeypatch.chdir(tmp_path)
    with Experiment(workspace, "values").start_logging() as run:
        with pytest.raises(InvalidValueError, match="step=.*from 0 to 2\\*\\*63-1"):
            run.log("loss", 0.5, step=step)
        run.log("loss", 0.5, step=2**63 - 1)
    assert workspace.store.metric_series(run.id, "loss", 0).steps.tolist() == [2**63 - 1]


BAD_LINES = """
    import json
    from runyard import Run
    run = Run.get_context()
    run.log('before', 1)
    run.flush()
    with open(run._writer.path, 'a') as spool:   # what a buggy or hostile writer could leave in a spool
        for line in (
            json.dumps(['scalar', 'huge', 10**400, None, 1.0, '']),
            json.dumps(['scalar', 'loss', 0.5, 2**63, 1.0, '']),
            json.dumps(['no-such-kind', 'x', 1, None, 1.0, '']),
            json.dumps(['scalar', '', 1, None, 1.0, '']),
            '{not json',
            json.dumps(['tag', 'owner', {'not': 'a string'}, None, 1.0, '']),
        ):
            spool.write(line + '\\n')
    run.log('after', 2)
    run.tag('kept', 'yes')
"""


def test_bad_spool_lines_are_left_out_and_the_lines_after_them_are_stored(workspace, project):
    src = project("train.py", BAD_LINES)
    run = Experiment(workspace, "spool").submit(ScriptRunConfig(str(src), "train.py"))
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"before": 1, "after": 2}
    assert run.get_tags() == {"kept": "yes"}
    reopened = Workspace(workspace.path, create=False)
    assert reopened.store.get_run(run.id).status.value == "Completed"


def test_readers_survive_a_stored_row_of_an_unknown_kind_and_the_spool_endpoint_refuses_one(workspace, tmp_path,
                                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Experiment(workspace, "mixed").start_logging() as run:
        run.log("acc", 0.5)
    # a row as a newer runyard (or an old bug) might have left it
    db = sqlite3.connect(workspace.path / "runyard.db")
    db.execute("INSERT INTO metric_objects(run_id, key, kind, rank, step, time, data) VALUES (?,?,?,?,?,?,?)",
               (run.id, "future", "histogram", 0, None, 1.0, "[1,2]"))
    db.execute("INSERT INTO metric_summary(run_id, key, rank, kind, n) VALUES (?,?,?,?,?)",
               (run.id, "future", 0, "histogram", 1))
    db.commit()
    db.close()
    assert run.get_metrics() == {"acc": 0.5}
    cli = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "runs"],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    proc, base = start_server(workspace)
    try:
        status, body = get(base + "/api/v1/runs")
        assert status == 200 and json.loads(body)["runs"][0]["metrics"] == {
            "acc": {"last": 0.5, "min": 0.5, "max": 0.5, "count": 1}}
        assert get(f"{base}/api/v1/runs/{run.id}/metrics")[0] == 200
        line = json.dumps(["no-such-kind", "x", 1, None, 1.0, ""]).encode() + b"\n"
        request = urllib.request.Request(f"{base}/api/v1/runs/{run.id}/spool/rank-0.1.jsonl?start=0", data=line,
                                         method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and "no-such-kind" in refused.value.read().decode()
        assert "rank-0.1.jsonl" not in json.loads(get(f"{base}/api/v1/runs/{run.id}/spool")[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- schema upgrades ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_a_database_of_every_earlier_schema_opens_with_its_data_carried_forward(tmp_path, version):
    path = tmp_path / "runyard.db"
    shutil.copy(FIXTURES / f"schema_v{version}.db", path)
    store = SqliteStore(path)
    assert store._query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    record = store.get_run(FIXTURE_RUN)
    assert (record.status.value, record.experiment, record.properties["runyard.entryScript"]) == \
        ("Completed", "digits", "train.py")
    assert store.get_tags(FIXTURE_RUN) == {"quality": "good"}
    by_key = {(kv.key, kv.rank): kv.values for kv in store.metric_values(FIXTURE_RUN)}
    assert by_key[("loss", 0)] == [1.0, 0.5, 1 / 3, 0.25, 0.2] and by_key[("loss", 1)] == [0.9]
    assert by_key[("note", 0)] == ["converged"] and by_key[("fib", 0)] == [[0, 1, 1, 2]]
    assert by_key[("epochs", 0)][0] == 3
    summary = {(s.key, s.rank): s for s in store.metric_summaries([FIXTURE_RUN])}
    assert (summary[("loss", 0)].count, summary[("loss", 0)].min, summary[("loss", 0)].max) == (5, 0.2, 1.0)
    assert store.metric_series(FIXTURE_RUN, "loss").steps.tolist() == [0, 1, 2, 3, 4]
    assert store.spool_offsets(FIXTURE_RUN) == {"rank-0.123.jsonl": 1234}
    store.close()
    backup = backup_path(path, version)
    if version < SCHEMA_VERSION:  # the copy taken before the first migration, in the old schema
        copy = sqlite3.connect(backup)
        assert copy.execute("PRAGMA user_version").fetchone()[0] == version
        old_tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert ("metrics" in old_tables) == (version == 1)
        copy.close()
    else:
        assert not backup.exists()


def test_a_database_of_a_newer_schema_is_refused_unchanged(tmp_path):
    path = tmp_path / "runyard.db"
    shutil.copy(FIXTURES / f"schema_v{SCHEMA_VERSION}.db", path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 7}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 7}.*this runyard understands "
                                         f"\\(version {SCHEMA_VERSION}\\).*Fix: upgrade runyard"):
        SqliteStore(path)
    assert path.read_bytes() == before


def test_a_damaged_database_is_named_and_a_submit_writes_nothing(workspace, project):
    src = project("train.py", "print('hi')")
    workspace.store.close()
    db_path = workspace.path / "runyard.db"
    for extra in ("-wal", "-shm"):
        Path(f"{db_path}{extra}").unlink(missing_ok=True)
    data = bytearray(db_path.read_bytes())
    data[0:16] = b"this is not sql!"  # the header: sqlite no longer knows the file
    db_path.write_bytes(bytes(data))
    damaged = Workspace(workspace.path, create=False)
    with pytest.raises(StoreError, match=r"runyard\.db: the workspace database is damaged.*\.recover"):
        Experiment(damaged, "x").submit(ScriptRunConfig(str(src), "train.py"))
    assert list((workspace.path / "runs").iterdir()) == []
    assert db_path.read_bytes() == bytes(data)


# -- models --------------------------------------------------------------------------------------------------
def test_a_failed_register_leaves_nothing_behind(workspace, tmp_path):
    model_file = tmp_path / "model.pt"
    model_file.write_bytes(b"weights")
    with pytest.raises(InvalidValueError, match="tags"):
        Model.register(workspace, str(model_file), "digits", tags="not-a-dict")
    assert not (workspace.path / "models" / "digits").exists() or \
        not any(p.name[0].isdigit() or p.name.startswith(".incoming") for p in (workspace.path / "models" / "digits").iterdir())
    model = Model.register(workspace, str(model_file), "digits", tags={"a": 1})
    assert (model.version, model.tags) == (1, {"a": "1"})


# -- processes ---------------------------------------------------------------------------------------------
def _processes(marker: str) -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _wait_for(predicate, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_cancel_during_an_environment_build_stops_its_whole_process_tree_in_seconds(workspace, project, tmp_path):
    import time

    from runyard.core import Environment
    from runyard.core.conda_dependencies import CondaDependencies

    marker = f"slowbuild-{tmp_path.name}"
    package = tmp_path / "slowpkg"
    package.mkdir()
    (package / "setup.py").write_text(  # building it runs this: a build that would take ten minutes
        "import subprocess, time\n"
        f"subprocess.Popen(['bash', '-c', 'exec -a {marker} sleep 600'])\n"
        "time.sleep(600)\nfrom setuptools import setup\nsetup(name='slowpkg', version='1.0')\n")
    src = project("train.py", "print('never')")
    env = Environment("slow")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=[f"slowpkg @ {package.as_uri()}"])
    run = Experiment(workspace, "slow").submit(ScriptRunConfig(str(src), "train.py", environment=env))
    assert _wait_for(lambda: _processes(marker), 60), "the build never started"
    started = time.monotonic()
    run.cancel()
    took = time.monotonic() - started
    assert run.get_status() == "Canceled" and took < 10, (run.get_status(), took)
    assert _wait_for(lambda: not _processes(marker) and not _processes(str(package)), 5), \
        [p.info["cmdline"] for p in _processes(marker)]


def test_a_killed_supervisor_takes_what_the_ranks_started_with_it(workspace, project, tmp_path):
    import os
    import signal

    marker = f"{tmp_path.name}-child"
    src = project("train.py", f"""
        import subprocess, time
        subprocess.Popen(['bash', '-c', 'exec -a {marker} sleep 600'])
        print('started', flush=True)
        time.sleep(600)
    """)
    run = Experiment(workspace, "killed").submit(ScriptRunConfig(str(src), "train.py"))
    assert _wait_for(lambda: _processes(marker), 30)
    supervisor = json.loads((run.folder.supervisor_file).read_text())["pid"]
    os.kill(supervisor, signal.SIGKILL)
    assert _wait_for(lambda: not _processes(marker), 5), "a rank's child outlived the supervisor"
    assert run.get_status() == "Failed"  # read after: the run ends with the reason
