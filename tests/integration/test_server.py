"""The server against a real uvicorn on loopback, and the web UI in Debian's Chromium (Playwright)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from runyard import Experiment
from runyard.run import Run
from runyard.train.dnn import PyTorch
from tests.waiting import eventually
from tests.web import CHROMIUM, SCREENSHOTS, browser_page, free_port, get, served_page, start_server

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]
TRAIN = """
import os, sys, time
from runyard import Run
run = Run.get_context()
for i in range(20):
    run.log("loss", 1.0 / (i + 1), step=i)
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("weights")
print("trained", sys.argv[1:], flush=True)
if "--slow" in sys.argv:
    for i in range(300):
        print("tick", i, flush=True)
        time.sleep(0.1)
"""


@pytest.fixture
def served(workspace, project):
    src = project("train.py", TRAIN)
    runs = [Experiment(workspace, "served").submit(PyTorch(str(src), entry_script="train.py",
                                                           script_params={"--lr": lr})) for lr in (0.1, 0.2)]
    for run in runs:
        run.wait_for_completion()
    proc, base = start_server(workspace)
    yield base, runs, src
    proc.terminate()
    proc.wait(timeout=10)


def test_api_runs_details_series_files_logs(served):
    base, runs, _ = served
    status, body = get(base + "/api/v1/version")
    assert status == 200 and json.loads(body)["api"] == 1
    listing = json.loads(get(base + "/api/v1/runs?sort=created&order=asc&limit=1")[1])
    assert listing["total"] == 2 and [r["runId"] for r in listing["runs"]] == [runs[0].id]
    assert listing["runs"][0]["metrics"]["loss"] == {"last": 0.05, "min": 0.05, "max": 1.0, "count": 20}
    details = json.loads(get(f"{base}/api/v1/runs/{runs[1].id}")[1])
    assert details["status"] == "Completed" and "outputs/model.txt" in details["files"]
    # a run page's first screen in one answer: the same details, overview and first charts as asked one by one
    first = json.loads(get(f"{base}/api/v1/runs/{runs[1].id}/page?first=4&width=300")[1])
    assert first["details"] == details
    assert first["overview"] == json.loads(get(f"{base}/api/v1/runs/{runs[1].id}/metric-overview")[1])
    assert first["charts"] == json.loads(get(f"{base}/api/v1/runs/{runs[1].id}/charts?first=4&width=300")[1])
    assert first["charts"]["keys"] == ["loss"] and first["charts"]["series"][0]["total"] == 20
    assert get(f"{base}/api/v1/runs/nope/page")[0] == 404
    series = json.loads(get(f"{base}/api/v1/runs/{runs[1].id}/metrics/loss/series?max_points=10")[1])
    assert series["total"] == 20 and series["downsampled"] and len(series["values"]) <= 10
    status, data = get(f"{base}/api/v1/runs/{runs[1].id}/files/outputs/model.txt")
    assert (status, data) == (200, b"weights")
    assert get(f"{base}/api/v1/runs/{runs[1].id}/logs/0")[1].decode().startswith("trained")
    for escape in ("files/../../config.json", "files/..%2F..%2Fconfig.json", "files/%2Fetc%2Fpasswd"):
        assert get(f"{base}/api/v1/runs/{runs[1].id}/{escape}")[0] == 404
    assert get(base + "/api/v1/runs/nope")[0] == 404
    assert "/api/v1/runs" in json.loads(get(base + "/openapi.json")[1])["paths"]


def test_log_follow_streams_while_running_and_cancel(served, workspace):
    base, _, src = served
    run = Experiment(workspace, "served").submit(PyTorch(str(src), entry_script="train.py",
                                                         script_params={"--slow": ""}))
    with urllib.request.urlopen(f"{base}/api/v1/runs/{run.id}/logs/0/follow", timeout=30) as stream:
        seen = []
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
            if "tick 3" in seen:
                break
        assert run.get_status() == "Running"  # lines arrived while the run was still running
    status, body = urllib.request.urlopen(urllib.request.Request(f"{base}/api/v1/runs/{run.id}/cancel",
                                                                 method="POST"), timeout=60).status, None
    assert status == 200 and run.get_status() == "Canceled"


def test_binding_beyond_loopback_needs_a_token(workspace):
    refused = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "server",
                              "--host", "0.0.0.0", "--port", str(free_port())], capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 2 and "host='0.0.0.0'" in refused.stderr and "--token" in refused.stderr
    proc, base = start_server(workspace, "--token", "s3cret-token")
    try:
        assert get(base + "/api/v1/runs")[0] == 401
        assert get(base + "/api/v1/runs", token="wrong")[0] == 401
        assert get(base + "/api/v1/runs", token="s3cret-token")[0] == 200
        big = urllib.request.Request(base + "/api/v1/runs/x/cancel", method="POST", data=b"x",
                                     headers={"Content-Length": str(1 << 30), "Authorization": "Bearer s3cret-token"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(big, timeout=10)
        assert info.value.code == 413
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "s3cret-token" not in proc.stdout.read().decode()  # no secret in a log line


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_web_ui_in_a_real_browser(served, workspace, tmp_path):
    base, runs, src = served
    live = Experiment(workspace, "served").submit(PyTorch(str(src), entry_script="train.py",
                                                          script_params={"--slow": ""}))
    with browser_page(tmp_path, viewport={"width": 1280, "height": 900}, accept_downloads=True) as page:
        statics: list[str] = []
        page.on("request", lambda r: statics.append(r.url) if "/static/" in r.url else None)
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(base + "/")
        page.wait_for_selector("#runs tbody tr")
        assert page.locator("#runs tbody tr").count() == 3
        page.screenshot(path=str(SCREENSHOTS / "served-runs.png"))

        page.click(f"a[href='#/run/{runs[0].id}']")
        page.wait_for_selector(".chart[data-metric='loss'] canvas")
        assert page.locator(".chart[data-metric='loss']").get_attribute("data-points") == "20"
        page.locator("#log", has_text="trained").wait_for()  # (the page's CSP allows no eval: no wait_for_function)
        with page.expect_download() as download:
            page.click("#files a:has-text('outputs/model.txt')")
        assert Path(download.value.path()).read_text() == "weights"
        page.screenshot(path=str(SCREENSHOTS / "run-page.png"), full_page=True)
        # every file at its content's address (index.html's import map, allowed by its CSP, versions the modules'
        # imports of each other too): none was asked for twice under two names
        assert statics and not refused and all("?v=" in url for url in statics), (refused, statics)
        page.click("#system-tab")  # what preparation did: snapshot, data, environment
        page.locator("#log", has_text="snapshot").wait_for()

        page.goto(f"{base}/#/run/{live.id}")
        page.locator("#log", has_text="tick 2").wait_for(timeout=30000)
        assert live.get_status() == "Running"  # the lines arrived live
        page.screenshot(path=str(SCREENSHOTS / "live-logs.png"))
        live.cancel()

        page.goto(f"{base}/#/")
        page.wait_for_selector("#runs tbody tr")
        for run in runs:
            page.check(f"input.pick[value='{run.id}']")
        page.click("#compare")
        page.wait_for_selector(".chart[data-metric='loss'] canvas")
        legend = page.locator(".chart .u-legend").inner_text()
        assert runs[0].id[-8:] in legend and runs[1].id[-8:] in legend  # short labels
        page.screenshot(path=str(SCREENSHOTS / "served-compare.png"))


def test_spools_shipped_to_a_server_that_was_down_lose_nothing(workspace, tmp_path):
    from runyard.tracking.shipper import SpoolShipper
    from runyard.tracking.spool import SpoolWriter

    run = Experiment(workspace, "remote").start_logging()
    remote_spool = tmp_path / "node-local-spool"  # a worker that cannot see the workspace's folder
    writer = SpoolWriter(remote_spool, rank=1)
    port = free_port()
    shipper = SpoolShipper(f"http://127.0.0.1:{port}", run.id, remote_spool, interval=0.1).start()
    for i in range(500):
        writer.append("scalar", "loss", float(i), i)
    writer.flush()
    eventually(lambda: shipper.last_error is not None, "the shipper to find nobody listening")
    proc = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "server",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and workspace.store.spool_offsets(run.id) == {}:
            time.sleep(0.1)
        proc.terminate()  # the server goes away again while the worker keeps logging
        proc.wait(timeout=10)
        for i in range(500, 1000):
            writer.append("scalar", "loss", float(i), i)
        writer.flush()
        time.sleep(0.5)
        proc = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "server",
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            found = workspace.store.metric_values(run.id)
            if found and len(found[0].values) >= 1000:
                break
            time.sleep(0.1)
        shipper.stop()
        (found,) = workspace.store.metric_values(run.id)
        assert found.values == [float(i) for i in range(1000)] and found.rank == 1  # no gaps, no duplicates
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        writer.close()


def test_remote_workspace_submits_and_reads_like_a_local_one(served, workspace, project, tmp_path, capsys):
    from runyard import Workspace
    from runyard.errors import RunyardError

    base, _, _ = served
    remote = Workspace.connect(base)
    src = project("train.py", TRAIN, "helper.py", "X = 1\n", name="remote-src")
    est = PyTorch(str(src), entry_script="train.py", script_params={"--lr": 0.3})
    exp = Experiment(remote, "remote")
    run = exp.submit(est, tags={"from": "client"})
    assert type(run) is Run and remote.backend.uploaded_blobs == 1  # helper.py was new; train.py was there
    details = run.wait_for_completion(show_output=True)
    assert details["status"] == "Completed"
    assert "trained ['--lr', '0.3']" in capsys.readouterr().out
    assert run.get_metrics()["loss"][:2] == [1.0, 0.5] and run.get_tags()["from"] == "client"
    run.download_file("outputs/model.txt", str(tmp_path / "m.txt"))
    assert (tmp_path / "m.txt").read_text() == "weights"
    again = exp.submit(est)
    assert remote.backend.uploaded_blobs == 0  # nothing new: nothing sent
    again.wait_for_completion()
    assert {r.id for r in exp.get_runs()} == {run.id, again.id}
    assert workspace.get_run(run.id).get_status() == "Completed"  # the server's own store has it
    run.log("reviewed_accuracy", 0.93)  # a client-side handle logs and tags through the server too
    run.log_list("thresholds", [0.1, 0.5])
    run.tag("reviewed", "yes")
    assert run.get_metrics()["reviewed_accuracy"] == 0.93 and run.get_tags()["reviewed"] == "yes"
    assert workspace.get_run(run.id).get_metrics()["thresholds"] == [0.1, 0.5]
    (tmp_path / "curve.png").write_bytes(b"\x89PNG fake")
    run.log_image("curve", path=str(tmp_path / "curve.png"))  # files go to the server's run folder
    run.upload_file("outputs/notes.txt", str(tmp_path / "m.txt"))
    image = run.get_metrics()["curve"]
    assert image.startswith("outputs/images/curve_") and image in run.get_file_names()
    assert workspace.get_run(run.id).folder.file_path("outputs/notes.txt").read_text() == "weights"
    with pytest.raises(RunyardError, match="must be a relative path inside the run"):
        run.upload_file("../../escape.txt", str(tmp_path / "m.txt"))
    assert "local" in remote.compute_targets
    with pytest.raises(RunyardError, match="compute_target='nowhere'"):
        exp.submit(PyTorch(str(src), entry_script="train.py", compute_target="nowhere"))
    # the seed's flow from a client: upload data to the server's datastore, mount it in a run, read outputs back
    data = tmp_path / "client-data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "x.txt").write_text("from the client")
    remote_ds = remote.get_default_datastore()
    reference = remote_ds.upload(str(data), target_path="incoming", show_progress=False)
    assert (workspace.get_default_datastore().root / "incoming" / "sub" / "x.txt").read_text() == "from the client"
    reader = project("read.py", "import sys\nprint('read:', open(sys.argv[2] + '/sub/x.txt').read(), flush=True)\n",
                     name="reader")
    used = exp.submit(PyTorch(str(reader), entry_script="read.py", script_params={"--data": reference.as_mount()}))
    used.wait_for_completion(show_output=True)
    assert "read: from the client" in capsys.readouterr().out
    remote_ds.upload_files([str(data / "sub" / "x.txt")], target_path="incoming/sub", show_progress=False)
    assert remote_ds.download(str(tmp_path / "back"), prefix="incoming", show_progress=False) == 1
    assert (tmp_path / "back" / "incoming" / "sub" / "x.txt").read_text() == "from the client"
    with pytest.raises(RunyardError, match="target_path='../up'"):
        remote_ds.upload(str(data), target_path="../up")


def test_one_run_class_reads_and_writes_a_server_workspace_and_the_cli_takes_its_url(served, workspace, tmp_path,
                                                                                   monkeypatch):
    from runyard import Workspace

    base, runs, _ = served
    remote = Workspace.connect(base)
    monkeypatch.chdir(tmp_path)
    with Experiment(remote, "notebook").start_logging(display_name="by hand") as run:  # an interactive run
        run.log("acc", 0.9)
        run.add_properties({"author": "me"})
        run.tag("kept")
        with run.child_run() as child:
            child.log("fold", 1)
    assert type(run) is Run and run.get_status() == "Completed" and run.display_name == "by hand"
    local = workspace.get_run(run.id)  # the server's own store has all of it
    assert local.get_metrics() == {"acc": 0.9} and local.get_properties()["author"] == "me"
    assert local.get_tags() == {"kept": ""} and [c.id for c in local.get_children()] == [child.id]
    run.remove_tags("kept")
    assert run.get_tags() == {}
    assert Run.get(remote, runs[0].id[:-2]).get_metric_series("loss").values[-1] == 0.05
    cli = [sys.executable, "-m", "runyard.cli.main", "-w", base]
    listing = subprocess.run([*cli, "runs", "--json"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and {r["runId"] for r in json.loads(listing.stdout)} >= {runs[0].id, run.id}
    logs = subprocess.run([*cli, "logs", runs[0].id], capture_output=True, text=True, timeout=60)
    assert logs.returncode == 0 and "trained" in logs.stdout
    shown = subprocess.run([*cli, "show", runs[0].id], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "Completed" in shown.stdout


SWEEP_TRAIN = """
import argparse
from runyard import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
args = p.parse_args()
run = Run.get_context()
for step in range(5):
    run.log("accuracy", args.lr * (step + 1) / 5)
"""


def test_sweep_page_ranks_its_trials_with_their_hyperparameters(workspace, project, tmp_path):
    from runyard.train.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice

    est = PyTorch(str(project("train.py", SWEEP_TRAIN, name="sweep")), entry_script="train.py")
    sweep = Experiment(workspace, "sweep").submit(HyperDriveConfig(
        GridParameterSampling({"--lr": choice(0.2, 0.9, 0.5)}), "accuracy", PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=3, max_concurrent_runs=3, estimator=est))
    sweep.wait_for_completion()
    best = sweep.get_best_run_by_primary_metric()
    with served_page(workspace, tmp_path) as (base, page):
        children = json.loads(get(f"{base}/api/v1/runs/{sweep.id}/children")[1])
        assert children["primaryMetric"] == {"name": "accuracy", "goal": "MAXIMIZE"}
        assert [c["hyperparameters"]["--lr"] for c in children["children"]] == [0.9, 0.5, 0.2]
        assert [c["bestPrimaryMetric"] for c in children["children"]] == [0.9, 0.5, 0.2]
        page.goto(f"{base}/#/run/{sweep.id}")
        page.wait_for_selector("#children tbody tr")
        rows = page.locator("#children tbody tr")
        assert rows.count() == 3 and rows.first.get_attribute("data-run") == best.id
        assert rows.first.locator("td.best").inner_text() == "0.9"
        assert "--lr" in page.locator("#children thead").inner_text()
        page.wait_for_selector("#children-chart .chart[data-metric='accuracy'] canvas")
        legend = page.locator("#children-chart .u-legend").inner_text()
        assert all(c.id[-8:] in legend for c in sweep.get_children())  # short labels: one legend row
        page.locator("#log", has_text="child 2").wait_for()
        assert page.locator("#system-tab").inner_text() == "sweep"  # its trials starting, in the Logs section
        page.screenshot(path=str(SCREENSHOTS / "sweep-page.png"), full_page=True)
        rows.first.locator("a").click()
        page.wait_for_selector(".chart[data-metric='accuracy'] canvas")
        assert page.locator("h2").inner_text().startswith(best.id)
        assert page.locator("#parent").inner_text() == sweep.id  # and back up to the sweep
