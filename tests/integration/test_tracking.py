"""Tracking at speed, checked for correctness: concurrent runs lose nothing, queries answer right."""

from __future__ import annotations

import multiprocessing
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runyard import Experiment
from runyard.store import RunRecord, SqliteStore
from runyard.status import RunStatus
from runyard.train.dnn import PyTorch
from runyard.tracking.query import get_series, run_table

pytestmark = pytest.mark.integration


def _writer(db: str, spool: str, run_id: str, n: int) -> None:
    from runyard.tracking.ingest import Ingester
    from runyard.tracking.spool import SpoolWriter

    store = SqliteStore(db)
    ingester = Ingester(store, run_id, Path(spool), interval=0.1).start()
    writer = SpoolWriter(spool, rank=0)
    for i in range(n):
        writer.append("scalar", "x", float(i), i)
    writer.close()
    ingester.stop()


def test_runs_logging_at_once_lose_nothing(tmp_path):
    db = str(tmp_path / "db")
    store = SqliteStore(db)
    for r in range(4):
        store.create_run(RunRecord(f"r{r}", "e", RunStatus.RUNNING, "local", time.time()))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, str(tmp_path / f"s{r}"), f"r{r}", 20_000)) for r in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]  # no "database is locked"
    for r in range(4):
        (kv,) = store.metric_values(f"r{r}")
        assert kv.values == [float(i) for i in range(20_000)]


def test_series_and_run_table_from_a_real_run(workspace, project):
    src = project("train.py", """
        from runyard import Run
        run = Run.get_context()
        for i in range(5000):
            run.log("loss", 1.0 / (i + 1), step=i)
        run.log("loss_spike", 0.0)
    """)
    run = Experiment(workspace, "series").submit(PyTorch(str(src), entry_script="train.py"))
    run.wait_for_completion()
    series = run.get_metric_series("loss", max_points=400)
    assert series.total_points == 5000 and series.downsampled and len(series.values) <= 400
    assert series.values[0] == 1.0 and min(series.values) == 1.0 / 5000  # extremes survive downsampling
    assert get_series(workspace.store, run.id, "loss", step_range=(10, 19), max_points=None).steps == list(range(10, 20))
    row = run_table(workspace.store, experiment="series")[run.id].metrics["loss"]
    assert (row.count, row.min, row.max, row.last) == (5000, 1.0 / 5000, 1.0, 1.0 / 5000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("tensorboard") is None and not (Path(sys.executable).parent / "tensorboard").exists(),
                    reason="tensorboard is not installed")
def test_tensorboard_event_files_are_listed_and_served(workspace, project):
    src = project("train.py", """
        from torch.utils.tensorboard import SummaryWriter
        w = SummaryWriter("logs/tb")
        for i in range(10):
            w.add_scalar("loss", 1.0 / (i + 1), i)
        w.close()
    """)
    run = Experiment(workspace, "tb").submit(PyTorch(str(src), entry_script="train.py"))
    run.wait_for_completion()
    assert any(n.startswith("logs/tb/events.out.tfevents.") for n in run.get_file_names())
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "tensorboard",
                             run.id, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        body = ""
        while time.time() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2).read().decode()
                if run.id in body:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert run.id in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
