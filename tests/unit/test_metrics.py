"""log() semantics, the spool writer's durability, and ingestion resuming without duplicates."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from runyard.store import KeyValues, MetricKind, RunRecord, SqliteStore
from runyard.status import RunStatus
from runyard.tracking.ingest import ingest_once
from runyard.tracking.metrics_view import shape_metrics
from runyard.tracking.spool import SpoolWriter
from runyard.tracking.values import check_scalar
from tests.waiting import eventually


def test_shapes_follow_the_service():
    S, L, R, T = MetricKind.SCALAR, MetricKind.LIST, MetricKind.ROW, MetricKind.TABLE
    pts = [KeyValues("acc", 0, S, [0.9]), KeyValues("loss", 0, S, [1.0, 0.5]), KeyValues("l", 0, L, [[1, 2]]),
           KeyValues("row", 0, R, [{"x": 1, "y": 2}, {"x": 3, "y": 4}]), KeyValues("t", 0, T, [{"c": [1, 2]}]),
           KeyValues("r", 1, S, [5.0]), KeyValues("r", 2, S, [7.0])]
    assert shape_metrics(pts) == {"acc": 0.9, "loss": [1.0, 0.5], "l": [1, 2], "row": {"x": [1, 3], "y": [2, 4]},
                                  "t": {"c": [1, 2]}, "r": 5.0}


def test_scalars_of_every_kind_are_accepted_and_tensors_are_copied():
    assert check_scalar("a", 1) == 1 and check_scalar("a", np.float32(2.5)) == np.float32(2.5)
    t = torch.tensor(3.0)
    logged = check_scalar("a", t)
    t.add_(1)  # an in-place update after log() must not change what was logged
    assert float(logged) == 3.0


def _spool_lines(folder) -> list[str]:
    return [ln for f in folder.glob("*.jsonl") for ln in f.read_text().splitlines()]


def test_writer_flushes_on_its_own_without_close(tmp_path):
    w = SpoolWriter(tmp_path, rank=0)
    w.append("scalar", "loss", torch.tensor(0.25), 3)
    eventually(lambda: w.path.exists() and w.path.read_text(), "the writer's thread to flush (nobody closed it)")
    assert '"loss",0.25,3' in w.path.read_text().splitlines()[0]
    w.close()


@pytest.mark.parametrize("ending", ["pass", "sys.exit(3)", "raise RuntimeError('boom')", "os.kill(os.getpid(), 15)"])
def test_what_was_logged_survives_the_way_a_script_ends(tmp_path, ending):
    script = textwrap.dedent(f"""
        import os, sys
        from runyard.tracking.spool import SpoolWriter
        w = SpoolWriter({str(tmp_path)!r}, rank=0, flush_interval=60)
        for i in range(1000):
            w.append("scalar", "x", float(i), i)
        {ending}
    """)
    subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    lines = [ln for f in tmp_path.glob("*.jsonl") for ln in f.read_text().splitlines()]
    assert len(lines) == 1000


def test_sigkill_keeps_every_line_flushed_while_it_ran(tmp_path):
    """The writer's thread flushes while the script runs; SIGKILL then keeps every line already flushed,
    whole and in order. (How far behind the flushes trail is a speed matter, measured in bench/.)"""
    script = textwrap.dedent(f"""
        import time
        from runyard.tracking.spool import SpoolWriter
        w = SpoolWriter({str(tmp_path)!r}, rank=0)
        i = 0
        while True:
            w.append("scalar", "t", time.time(), i); i += 1
            time.sleep(0.001)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        first_seen = eventually(lambda: len(_spool_lines(tmp_path)), "a first flush")
        eventually(lambda: len(_spool_lines(tmp_path)) > first_seen, "a second flush while it still runs")
        seen = len(_spool_lines(tmp_path))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    steps = [json.loads(ln)[3] for ln in _spool_lines(tmp_path)]
    assert len(steps) >= seen and steps == list(range(len(steps)))


def test_ingestion_resumes_without_duplicates_or_gaps(tmp_path):
    store = SqliteStore(tmp_path / "db")
    store.create_run(RunRecord("r", "e", RunStatus.RUNNING, "local", time.time()))
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, rank=1)
    for i in range(500):
        w.append("scalar", "x", i, i)
    w.flush()
    with open(w.path, "a") as f:
        f.write('["scalar","x",500,500,1.0,""]\n["scalar","x",501')  # a line still being written
    assert ingest_once(store, "r", spool) == 501
    second_store = SqliteStore(tmp_path / "db")  # an ingester restarting in another process
    assert ingest_once(second_store, "r", spool) == 0
    with open(w.path, "a") as f:
        f.write(',501,1.0,""]\n')
    assert ingest_once(second_store, "r", spool) == 1
    (found,) = store.metric_values("r")
    assert found.values == list(range(502)) and found.rank == 1
    w.close()
