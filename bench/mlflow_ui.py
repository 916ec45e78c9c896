"""MLflow's own UI (`mlflow server` on a SQLite store) holding the same data as bench/ui_load.py's runyard
workspace: one run with `metrics` series of `points` steps and `runs` small runs in one experiment. The points go
straight into MLflow's tables with SQL (logging 10M points through its client takes hours); the runs are created
through the client first, so every row looks as MLflow writes it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class MlflowData:
    db: Path
    experiment_id: str
    big_run: str


def fill_mlflow(folder: Path, metrics: int, points: int, runs: int) -> MlflowData:
    import mlflow
    from mlflow.tracking import MlflowClient

    db = folder / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    experiment = client.create_experiment("bench")
    big = client.create_run(experiment, run_name="big").info.run_id
    client.log_param(big, "lr", "0.1")
    template = client.create_run(experiment, run_name="small-0").info.run_id
    client.log_param(template, "lr", "0.0")
    client.log_metric(template, "accuracy", 0.0, step=0)
    client.set_terminated(big)
    client.set_terminated(template)
    rng = np.random.default_rng(0)
    with sqlite3.connect(db) as con:
        for m in range(metrics):
            values = np.cumsum(rng.normal(size=points)) / 100
            key = f"metric_{m:03d}"
            con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,0)",
                            ((key, float(values[i]), 1_700_000_000_000 + i, big, i) for i in range(points)))
            con.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,0,?)",
                        (key, float(values[-1]), 1_700_000_000_000 + points - 1, points - 1, big))
        columns = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
        row = dict(zip(columns, con.execute("SELECT * FROM runs WHERE run_uuid = ?", (template,)).fetchone()))
        tags = con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (template,)).fetchall()
        for i in range(1, runs):
            run_id = uuid.uuid4().hex
            copy = {**row, "run_uuid": run_id, "name": f"small-{i}", "start_time": row["start_time"] + i,
                    "artifact_uri": str(row["artifact_uri"]).replace(template, run_id)}
            con.execute(f"INSERT INTO runs ({', '.join(copy)}) VALUES ({', '.join('?' * len(copy))})",
                        list(copy.values()))
            con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                            [(k, f"small-{i}" if k == "mlflow.runName" else v, run_id) for k, v in tags])
            con.execute("INSERT INTO params (key, value, run_uuid) VALUES ('lr', ?, ?)", (str(0.001 * (i % 97)), run_id))
            con.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                        "VALUES ('accuracy', ?, 0, 0, 0, ?)", (float(i % 100) / 100, run_id))
            con.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                        "VALUES ('accuracy', ?, 0, ?, 0, 0)", (float(i % 100) / 100, run_id))
    return MlflowData(db, experiment, big)


@contextmanager
def mlflow_server(db: Path, port: int) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
