"""A team's server: PostgreSQL as the store, run files in S3 (moto's server), two server processes on
different workspace folders (as two machines would have), named tokens, bursts of clients, migrate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runyard import Experiment, Workspace
from runyard.errors import RunyardError
from runyard.run import Run
from runyard.script_run_config import ScriptRunConfig
from runyard.store.postgres import PostgresStore
from tests.web import get, start_server

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]
CLI = [sys.executable, "-m", "runyard.cli.main"]
TRAIN = """
import os, sys, time
from runyard import Run
run = Run.get_context()
release = sys.argv[1] if len(sys.argv) > 1 else None
for i in range(40):
    run.log("loss", 1.0 / (i + 1), step=i)
    print("step", i, flush=True)
    time.sleep(0.1)
    deadline = time.time() + 120
    while i == 19 and release and not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.1)  # halfway, until the test has seen the run live
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
"""


@pytest.fixture
def team_env(s3_endpoint, tmp_path):
    """The environment a team's servers and clients share: S3 credentials and endpoint, a bucket."""
    import s3fs

    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}
    bucket = f"team-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing").mkdir(bucket)
    return env, f"s3://{bucket}/runyard"


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_two_servers_share_a_postgres_store_and_a_bucket_one_submits_the_other_reads_live(
        postgres_uri, team_env, tmp_path, monkeypatch):
    env, artifacts = team_env
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(key, env[key])
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    server_a, url_a = start_server(host_a, "--store", postgres_uri, "--artifacts", artifacts, env=env)
    server_b, url_b = start_server(host_b, "--store", postgres_uri, "--artifacts", artifacts, env=env)
    try:
        assert json.loads((host_b / "config.json").read_text())["store"] == postgres_uri
        alice = cli("-w", str(host_a), "token", "create", "alice", env=env).stdout.strip()
        viewer = cli("-w", str(host_b), "token", "create", "viewer", "--read-only", env=env).stdout.strip()
        deadline = time.time() + 30  # servers look for named tokens once a second
        while time.time() < deadline and not (get(url_a + "/api/v1/runs")[0] == 401
                                              and get(url_b + "/api/v1/runs")[0] == 401):
            time.sleep(0.2)
        assert get(url_a + "/api/v1/runs")[0] == 401 and get(url_b + "/api/v1/runs")[0] == 401

        project = tmp_path / "proj"
        project.mkdir()
        (project / "train.py").write_text(textwrap.dedent(TRAIN))
        ws_a = Workspace.connect(url_a, token=alice)
        release = tmp_path / "release"
        run = Experiment(ws_a, "team").submit(ScriptRunConfig(str(project), "train.py", arguments=[str(release)]))
        # server B, on another folder, follows the same run while it runs: status, metrics, logs (the run
        # waits halfway until B has seen both, so a slow machine cannot make this a race)
        seen_b = Run.get(Workspace.connect(url_b, token=viewer), run.id)
        deadline = time.time() + 90
        live_metrics, live_log = 0, ""
        while time.time() < deadline and not (live_metrics and "step 0" in live_log):
            if seen_b.get_status() == "Running":
                live_metrics = max(live_metrics, len(seen_b.get_metrics().get("loss", [])))
                live_log = get(f"{url_b}/api/v1/runs/{run.id}/logs/0", token=viewer)[1].decode() or live_log
            time.sleep(0.3)
        release.touch()
        assert seen_b.wait_for_completion()["status"] == "Completed"
        assert 0 < live_metrics < 40, "server B saw the metrics grow while the run went on"
        assert "step 0" in live_log, "server B read the log from the bucket while the run went on"
        assert seen_b.get_metrics()["loss"] == [1.0 / (i + 1) for i in range(40)]
        # the run's files were in the bucket before its final status: B reads them without the run folder
        assert not (host_b / "runs" / run.id).exists()
        assert "outputs/model.txt" in seen_b.get_file_names()
        seen_b.download_file("outputs/model.txt", str(tmp_path / "model.txt"))
        assert (tmp_path / "model.txt").read_text() == "weights"
        assert get(f"{url_b}/api/v1/runs/{run.id}/files/outputs/model.txt", token=viewer) == (200, b"weights")
        # who submitted it, shown and searchable from either server
        listing = json.loads(get(f"{url_b}/api/v1/runs?owner=alice", token=viewer)[1])
        assert [(r["runId"], r["owner"]) for r in listing["runs"]] == [(run.id, "alice")]
        assert json.loads(get(f"{url_b}/api/v1/runs?owner=bob", token=viewer)[1])["total"] == 0
        shown = cli("-w", url_b, "runs", "--owner", "alice", "--json", env={**env, "RUNYARD_SERVER_TOKEN": viewer})
        assert [r["owner"] for r in json.loads(shown.stdout)] == ["alice"]
        # the read-only token reads but may not submit; a revoked token is refused at once on both servers
        with pytest.raises(RunyardError, match="403.*read-only"):
            Experiment(Workspace.connect(url_b, token=viewer), "team").start_logging()
        cli("-w", str(host_b), "token", "revoke", "alice", env=env)
        assert get(url_a + "/api/v1/runs", token=alice)[0] == 401
        assert get(url_b + "/api/v1/runs", token=alice)[0] == 401
        # everything is in PostgreSQL: a store opened on it directly sees the run and its submitter
        store = PostgresStore(postgres_uri)
        assert store.get_run(run.id).owner == "alice" and store.counts(run.id)["metric_points"] == 40
        store.close()
    finally:
        stop(server_a)
        stop(server_b)


BURST = """
import sys, time
from runyard import Experiment, Workspace
ws = Workspace.connect(sys.argv[1])
run = Experiment(ws, "burst").start_logging()
n = int(sys.argv[2])
for i in range(n):
    run.log("x", float(i), step=i)
started = time.monotonic()
run.flush()
print(run.id, round(time.monotonic() - started, 2), flush=True)
run.complete()
"""


@pytest.mark.parametrize("workers", [2])
def test_a_burst_of_clients_each_flushing_at_once_stores_every_point_once(postgres_uri, tmp_path, workers):
    server, url = start_server(tmp_path / "ws", "--store", postgres_uri, "--workers", str(workers))
    try:
        script = tmp_path / "burst.py"
        script.write_text(BURST)
        clients = [subprocess.Popen([sys.executable, str(script), url, "20000"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(8)]
        results = [c.communicate(timeout=240) for c in clients]
        assert all(c.returncode == 0 for c in clients), [err for _, err in results]
        run_ids = [out.split()[0] for out, _ in results]
        store = PostgresStore(postgres_uri)
        for run_id in run_ids:
            assert store.counts(run_id)["metric_points"] == 20000
            assert store.metric_series(run_id, "x").values.tolist() == [float(i) for i in range(20000)]
        store.close()
    finally:
        stop(server)


def test_a_flush_the_server_never_takes_names_what_is_left_and_keeps_it(tmp_path):
    server, url = start_server(tmp_path / "ws")
    run = Experiment(Workspace.connect(url), "gone").start_logging()
    run.log("a", 1.0)
    run.flush(timeout_seconds=30)
    stop(server)
    for i in range(1000):
        run.log("b", float(i))
    started = time.monotonic()
    with pytest.raises(RunyardError, match=r"flush: \d+ bytes of run .*'s metrics .* have not reached .* after 2s"
                                           r".*nothing is lost: they are kept in") as info:
        run.flush(timeout_seconds=2)
    assert time.monotonic() - started < 60  # it gave up (after its 2 s), rather than waiting on a dead server
    kept = Path(str(info.value).split("kept in ")[1].split(" and sent")[0])
    assert sum(1 for line in next(kept.glob("*.jsonl")).read_text().splitlines() if '"b"' in line) == 1000


def _local_runs(folder: Path, count: int) -> list[str]:
    """Runs with metrics, tags and statuses in a workspace's SQLite store, as submitted runs leave them."""
    from runyard.status import RunStatus
    from runyard.store.base import RunRecord, SpoolEvent
    from runyard.store.sqlite import SqliteStore

    Workspace(folder)
    store = SqliteStore(folder / "runyard.db")
    ids = []
    for i in range(count):
        run_id = f"exp_{i:04d}"
        store.create_run(RunRecord(run_id, "exp", RunStatus.QUEUED, "local", 1000.0 + i,
                                   spec_json=json.dumps({"arguments": ["--lr", str(i)]})))
        store.ingest(run_id, [*(SpoolEvent("scalar", "loss", float(j), j, 0, 1.0) for j in range(500)),
                              SpoolEvent("tag", "k", str(i))], "rank-0.1.jsonl", 0, 10)
        store.set_status(run_id, RunStatus.COMPLETED, 2000.0 + i)
        ids.append(run_id)
    store.close()
    return ids


def test_migrate_copies_every_run_resumes_after_a_kill_and_verifies(postgres_uri, tmp_path):
    folder = tmp_path / "ws"
    ids = _local_runs(folder, 60)
    source = f"sqlite:///{folder / 'runyard.db'}"
    # the server refuses to switch stores while the SQLite file holds runs: they would seem to vanish
    refused = cli("-w", str(folder), "server", "--store", postgres_uri, "--port", "1", check=False)
    assert refused.returncode != 0 and "has 60 runs" in refused.stderr and "runyard migrate" in refused.stderr
    first = subprocess.Popen([*CLI, "-w", str(folder), "migrate", "--from", source, "--to", postgres_uri],
                             stdout=subprocess.PIPE, text=True)
    copied_before_kill = 0
    for line in first.stdout:
        copied_before_kill += line.startswith("copied")
        if copied_before_kill == 5:
            first.send_signal(signal.SIGKILL)
            break
    first.wait(timeout=30)
    again = cli("-w", str(folder), "migrate", "--from", source, "--to", postgres_uri, "--record")
    lines = again.stdout.splitlines()
    skipped = [line for line in lines if line.startswith("already there")]
    copied = [line for line in lines if line.startswith("copied")]
    assert len(skipped) >= 5 and len(skipped) + len(copied) == 60, again.stdout  # each run once, none twice
    assert f"{len(copied)} runs copied, {len(skipped)} already there, 30000 metric points" in again.stdout
    assert "every run's row counts verified" in again.stdout
    store = PostgresStore(postgres_uri)
    assert sorted(r.run_id for r in store.list_runs()) == ids
    assert store.counts("exp_0042")["metric_points"] == 500 and store.get_tags("exp_0042") == {"k": "42"}
    assert [r.number for r in store.list_runs(ascending=True)] == list(range(1, 61))
    store.close()
    # the workspace now opens on PostgreSQL: the CLI lists and searches the same runs there
    listed = cli("-w", str(folder), "runs", "--filter", "params.lr = '7' and metrics.loss >= 499", "--json")
    assert [r["runId"] for r in json.loads(listed.stdout)] == ["exp_0007"]
    assert json.loads((folder / "config.json").read_text())["store"] == postgres_uri


def test_migrate_with_artifacts_sends_run_files_so_another_host_reads_them(postgres_uri, team_env, tmp_path,
                                                                           monkeypatch):
    env, artifacts = team_env
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(key, env[key])
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("import os\nos.makedirs('outputs', exist_ok=True)\n"
                                      "open('outputs/model.txt', 'w').write('local weights')\nprint('done')\n")
    here = Workspace(tmp_path / "laptop")
    run = Experiment(here, "moved").submit(ScriptRunConfig(str(project), "train.py"))
    run.wait_for_completion()
    done = cli("-w", str(here.path), "migrate", "--from", f"sqlite:///{here.path / 'runyard.db'}", "--to",
               postgres_uri, "--artifacts", artifacts, env=env)
    assert "copied the files of 1 runs" in done.stdout
    # a server host that never had the run's folder reads its files from the bucket
    elsewhere = tmp_path / "server-host"
    server, url = start_server(elsewhere, "--store", postgres_uri, "--artifacts", artifacts, env=env)
    try:
        moved = Run.get(Workspace.connect(url), run.id)
        assert moved.get_status() == "Completed" and "outputs/model.txt" in moved.get_file_names()
        assert get(f"{url}/api/v1/runs/{run.id}/files/outputs/model.txt") == (200, b"local weights")
        assert get(f"{url}/api/v1/runs/{run.id}/logs/0")[1].decode().startswith("done")
    finally:
        stop(server)
