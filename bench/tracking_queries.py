"""runyard's metric queries at size, next to mlflow's sqlite store at the same sizes."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from runyard.status import RunStatus
from runyard.store import RunRecord, SpoolEvent, SqliteStore


def _new_run(store: SqliteStore, run_id: str, experiment: str) -> None:
    store.create_run(RunRecord(run_id, experiment, RunStatus.COMPLETED, "local", time.time()))


def _ingest(store: SqliteStore, run_id: str, events: list[SpoolEvent], source: str) -> None:
    offset = store.spool_offsets(run_id).get(source, 0)
    assert store.ingest(run_id, events, source, offset, offset + 1)


def timed(fn, repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return sorted(samples)[len(samples) // 2]


def runyard_queries(tmp: Path, points: int, keys: int, key_points: int, runs: int) -> dict[str, float]:
    from runyard.tracking.query import get_series, run_table

    store = SqliteStore(tmp / "runyard.db")
    out: dict[str, float] = {}
    _new_run(store, "big", "bench")
    for start in range(0, points, 100_000):
        _ingest(store, "big", [SpoolEvent("scalar", "loss", float(i % 977) / 977, i, 0, float(i))
                               for i in range(start, min(points, start + 100_000))], "s")
    out[f"chart series of {points:,} points -> 2,000"] = timed(lambda: get_series(store, "big", "loss", max_points=2000))
    _new_run(store, "wide", "bench")
    for k in range(keys):
        _ingest(store, "wide", [SpoolEvent("scalar", f"k{k}", float(i), i, 0, float(i)) for i in range(key_points)],
                f"k{k}")
    from runyard.store.base import KeyValues  # noqa: F401 - get_metrics' own path below
    from runyard.tracking.metrics_view import shape_metrics

    out[f"get_metrics {keys} keys x {key_points:,} points"] = timed(
        lambda: shape_metrics(store.metric_values("wide")))
    for r in range(runs):
        _new_run(store, f"run{r}", "table")
        _ingest(store, f"run{r}", [SpoolEvent("scalar", k, float(i), i, 0, float(i))
                                   for k in ("loss", "acc", "lr") for i in range(10)], "s")
    out[f"runs table: {runs:,} runs with latest/min/max per key"] = timed(
        lambda: (store.list_runs(experiment="table"), run_table(store, experiment="table")))
    db_bytes = sum(p.stat().st_size for p in tmp.glob("runyard.db*"))
    total = points + keys * key_points + runs * 30
    out["bytes per point (whole database)"] = db_bytes / total
    return out


def _writer_process(db: str, spool: str, run_id: str, n: int) -> None:
    """One run: a worker writing its spool while a supervisor-like ingester stores it."""
    from runyard.tracking.ingest import Ingester
    from runyard.tracking.spool import SpoolWriter

    store = SqliteStore(db)
    ingester = Ingester(store, run_id, Path(spool), interval=0.2).start()
    writer = SpoolWriter(spool, rank=0)
    for i in range(n):
        writer.append("scalar", "loss", float(i), i)
    writer.close()
    ingester.stop()


def concurrent_runs(tmp: Path, runs: int, points: int) -> dict[str, float]:
    db = str(tmp / "concurrent.db")
    store = SqliteStore(db)
    for r in range(runs):
        _new_run(store, f"c{r}", "concurrent")
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer_process, args=(db, str(tmp / f"spool{r}"), f"c{r}", points))
             for r in range(runs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    stored = sum(s.count for s in store.metric_summaries(experiment="concurrent"))
    failed = sum(p.exitcode != 0 for p in procs)
    return {"runs": runs, "points each": points, "stored": stored, "expected": runs * points,
            "writer processes failed": failed, "seconds": elapsed}


def mlflow_queries(tmp: Path, runs: int, points_per_run: int) -> dict[str, float]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp}/mlflow-queries.db"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("queries")
    run_ids = []
    t0 = time.perf_counter()
    for r in range(runs):
        run = client.create_run(exp)
        now = int(time.time() * 1000)
        for start in range(0, points_per_run, 1000):
            client.log_batch(run.info.run_id, metrics=[Metric("loss", float(i), now, i)
                                                        for i in range(start, min(points_per_run, start + 1000))])
        run_ids.append(run.info.run_id)
    load = time.perf_counter() - t0
    out = {
        f"get_metric_history, {points_per_run:,}-point run among {runs * points_per_run:,}": timed(
            lambda: client.get_metric_history(run_ids[runs // 2], "loss")),
        f"search_runs ordered by a metric over {runs:,} runs": timed(
            lambda: client.search_runs([exp], order_by=["metrics.loss DESC"], max_results=runs), repeats=3),
        "(loading those points through log_batch took, s)": load,
    }
    db = tmp / "mlflow-queries.db"
    out["bytes per point (whole database)"] = db.stat().st_size / (runs * points_per_run)
    return out


os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
