"""A team server on PostgreSQL, side by side with MLflow's tracking server on the same PostgreSQL.

1. Ingest: C client processes each log N points to an interactive run and flush at once (a burst), while
   two browsers read the runs table and a chart; then the same clients with MLflow's log_batch(1000).
   Printed: points/s, flush (runyard) or batch (MLflow) times, errors, and whether every point was
   stored exactly once (counted in the database).
2. Queries through each server's API: the runs table ordered by a metric and a filter expression at
   R runs (both), then runyard alone at R_big runs, and a 1M-point chart series.

    .venv/bin/python bench/team_server.py [--clients 20] [--points 100000] [--mlflow-points 10000]
        [--runs 10000] [--big-runs 100000] [--series-points 1000000]

Needs scripts/postgres_cluster.sh (Debian's postgresql), the server and postgres extras, and mlflow
(pip install 'runyard[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from tracking_queries import timed

from tests.web import free_port

RUNYARD_CLIENT = """
import json, sys, time
from runyard import Experiment, Workspace
run = Experiment(Workspace.connect(sys.argv[1]), "burst").start_logging()
n = int(sys.argv[2])
started = time.time()
for i in range(n):
    run.log("x", float(i), step=i)
flush_started = time.time()
error = None
try:
    run.flush(timeout_seconds=600)
except Exception as e:
    error = f"{type(e).__name__}: {e}"
ended = time.time()
run.complete()
print(json.dumps({"run": run.id, "start": started, "end": ended, "flush": ended - flush_started, "error": error}))
"""

MLFLOW_CLIENT = """
import json, sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.create_run(sys.argv[3])
n = int(sys.argv[2])
batches, error = [], None
started = time.time()
try:
    for lo in range(0, n, 1000):
        now = int(time.time() * 1000)
        t0 = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=[Metric("x", float(i), now, i) for i in range(lo, min(n, lo + 1000))])
        batches.append(time.perf_counter() - t0)
except Exception as e:
    error = f"{type(e).__name__}: {e}"
ended = time.time()
print(json.dumps({"run": run.info.run_id, "start": started, "end": ended, "batches": batches, "error": error}))
"""


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server at {url} exited: {proc.stdout.read().decode() if proc.stdout else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not answer in {timeout} s")


def new_database(server_uri: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server_uri.rsplit("/", 1)[0] + "/" + name


def run_clients(script: str, args_for: list[list[str]]) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, "-c", script, *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for a in args_for]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=3600)
        line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        out.append(json.loads(line) if line.startswith("{") else {"error": stderr[-500:] or f"exit {p.returncode}"})
    return out


class Browser(threading.Thread):
    """Reads pages while the clients log: how long a person waits meanwhile."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.paths, self.latencies, self.errors = paths, [], 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                t0 = time.perf_counter()
                try:
                    urllib.request.urlopen(path, timeout=60).read()
                    self.latencies.append(time.perf_counter() - t0)
                except OSError:
                    self.errors += 1
            time.sleep(0.2)


def ingest_report(name: str, results: list[dict], points: int, extra: str) -> float:
    errors = [r["error"] for r in results if r.get("error")]
    ok = [r for r in results if "start" in r]
    span = max(r["end"] for r in ok) - min(r["start"] for r in ok) if ok else float("nan")
    rate = points * len(ok) / span if ok else 0.0
    print(f"{name:10} {len(results)} clients x {points:,} points: {rate:12,.0f} points/s over {span:6.1f} s; "
          f"{extra}; errors: {len(errors)}" + (f" (first: {errors[0][:200]})" if errors else ""))
    return rate


def bulk_runs(store_uri: str, count: int, experiment: str) -> None:
    """`count` finished runs with two metrics and a parameter each, written with COPY (set-up, not measured)."""
    import psycopg

    from runyard.store.postgres import PostgresStore

    PostgresStore(store_uri).close()  # the schema
    now = time.time()
    with psycopg.connect(store_uri) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO experiments(name, created) VALUES (%s, %s) ON CONFLICT DO NOTHING", (experiment, now))
        with cur.copy("COPY runs(run_id, experiment, number, status, target, created, start_time, end_time, spec_json,"
                      " properties, owner) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((f"{experiment}_{i:07d}", experiment, i + 1, "Completed", "local", now - count + i,
                                now - count + i, now - count + i + 5, json.dumps({"arguments": ["--lr", str(i % 7)]}),
                                "{}", f"user{i % 5}"))
        with cur.copy("COPY params(run_id, key, value) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((f"{experiment}_{i:07d}", "lr", str(i % 7)))
        with cur.copy("COPY metric_summary(run_id, key, rank, kind, n, last_step, last_time, last_value, min_value,"
                      " max_value) FROM STDIN") as copy:
            for i in range(count):
                for key, value in (("acc", (i * 7919 % 10007) / 10007), ("loss", 1.0 / (i + 1))):
                    copy.write_row((f"{experiment}_{i:07d}", key, 0, "scalar", 5, 4, now, value, value, value))
        conn.commit()
        cur.execute("ANALYZE")


def bulk_mlflow_runs(db_uri: str, count: int, experiment: str) -> str:
    """`count` finished MLflow runs with the same metrics and parameter, written through MLflow's own SQL store
    in 4 processes (its server takes minutes for this; set-up, not measured). The experiment's id."""
    script = """
import sys
from mlflow.entities import Metric, Param, RunStatus
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(sys.argv[1], sys.argv[5])
exp_id, lo, hi = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(lo, hi):
    run = store.create_run(exp_id, "bench", 0, [], f"run{i}")
    store.log_batch(run.info.run_id, metrics=[Metric("acc", (i * 7919 % 10007) / 10007, 0, 4),
                                              Metric("loss", 1.0 / (i + 1), 0, 4)], params=[Param("lr", str(i % 7))],
                    tags=[])
    store.update_run_info(run.info.run_id, RunStatus.FINISHED, 1, None)
"""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    artifacts = tempfile.mkdtemp(prefix="mlflow-artifacts-")
    exp_id = SqlAlchemyStore(db_uri, artifacts).create_experiment(experiment)
    share = -(-count // 4)
    run_clients(script, [[db_uri, exp_id, str(lo), str(min(count, lo + share)), artifacts]
                         for lo in range(0, count, share)])
    return str(exp_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-points", type=int, default=10_000, help="per MLflow client (it is slow)")
    parser.add_argument("--runs", type=int, default=10_000, help="runs for the side-by-side queries")
    parser.add_argument("--big-runs", type=int, default=100_000, help="runs for runyard's runs table alone")
    parser.add_argument("--series-points", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="runyard-teambench-", dir="/tmp"))
    tmp.chmod(0o755)  # the postgres user (PostgreSQL refuses root) must reach its cluster folder inside
    cluster = str(ROOT / "scripts" / "postgres_cluster.sh")
    server_uri = subprocess.run(["bash", cluster, "up", str(tmp / "pg")], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1]
    procs: list[subprocess.Popen] = []
    try:
        # -- 1. ingest -------------------------------------------------------------------------------
        store_uri = new_database(server_uri, "runyard_bench")
        port = free_port()
        runyard_server = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(tmp / "ws"), "server",
                                           "--port", str(port), "--store", store_uri, "--workers", str(args.workers)],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(runyard_server)
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/api/v1/version", runyard_server)
        ml_port = free_port()
        ml_uri = new_database(server_uri, "mlflow_bench").replace("postgresql://", "postgresql+psycopg://")
        mlflow_server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                                          ml_uri, "--default-artifact-root", str(tmp / "mlflow-artifacts"), "--host",
                                          "127.0.0.1", "--port", str(ml_port), "--workers", str(args.workers)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(mlflow_server)
        ml_url = f"http://127.0.0.1:{ml_port}"
        wait_for(ml_url + "/health", mlflow_server)

        print(f"PostgreSQL {server_uri}; {args.clients} clients; servers with {args.workers} workers each; "
              f"{os.cpu_count()} cores")
        browser = Browser([url + "/api/v1/runs?limit=50", url + "/api/v1/runs?limit=50&sort=metric:x"])
        browser.start()
        results = run_clients(RUNYARD_CLIENT, [[url, str(args.points)] for _ in range(args.clients)])
        browser.stop.set()
        flushes = sorted(r["flush"] for r in results if "flush" in r)
        ingest_report("runyard", results, args.points,
                      f"flush p50 {statistics.median(flushes):.1f} s, max {flushes[-1]:.1f} s" if flushes else "")
        from runyard.store.postgres import PostgresStore

        store = PostgresStore(store_uri)
        exact = all(store.counts(r["run"])["metric_points"] == args.points
                    and store.metric_series(r["run"], "x").values.tolist() == [float(i) for i in range(args.points)]
                    for r in results if "run" in r)
        store.close()
        lat = sorted(browser.latencies)
        print(f"{'':10} every point stored exactly once: {exact}; while logging, the runs table answered in p50 "
              f"{statistics.median(lat) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms ({len(lat)} reads, "
              f"{browser.errors} errors)" if lat else "")

        from mlflow.tracking import MlflowClient

        ml_exp = MlflowClient(ml_url).create_experiment("burst")
        ml_browser = Browser([ml_url + "/api/2.0/mlflow/runs/search?max_results=50"])
        ml_results = run_clients(MLFLOW_CLIENT, [[ml_url, str(args.mlflow_points), ml_exp]
                                                 for _ in range(args.clients)])
        ml_browser.stop.set()
        batches = sorted(b for r in ml_results for b in r.get("batches", []))
        ingest_report("MLflow", ml_results, args.mlflow_points,
                      f"log_batch(1000) p50 {statistics.median(batches):.2f} s, max {batches[-1]:.2f} s"
                      if batches else "")

        # -- 2. queries --------------------------------------------------------------------------------
        print(f"\n{'query (median of 5, through each server)':58} {'runyard (s)':>12} {'MLflow (s)':>11}")
        bulk_runs(store_uri, args.runs, "table")
        ml_exp_id = bulk_mlflow_runs(ml_uri, args.runs, "table")
        client = MlflowClient(ml_url)

        def fetch(path: str) -> bytes:
            return urllib.request.urlopen(url + "/api/v1" + path, timeout=120).read()

        expression = urllib.request.quote("metrics.acc > 0.5 and params.lr = '3'")
        rows = [
            (f"runs table, {args.runs:,} runs, newest first", lambda: fetch("/runs?experiment=table&limit=50"),
             lambda: client.search_runs([ml_exp_id], max_results=50)),
            (f"runs table, {args.runs:,} runs, ordered by a metric",
             lambda: fetch("/runs?experiment=table&limit=50&sort=metric:acc"),
             lambda: client.search_runs([ml_exp_id], order_by=["metrics.acc DESC"], max_results=50)),
            (f"search, {args.runs:,} runs: metrics.acc > 0.5 and params.lr = '3'",
             lambda: fetch(f"/runs?experiment=table&limit=50&filter={expression}"),
             lambda: client.search_runs([ml_exp_id], "metrics.acc > 0.5 and params.lr = '3'", max_results=50)),
        ]
        for name, ours, theirs in rows:
            print(f"{name:58} {timed(ours):12.3f} {timed(theirs):11.3f}")
        bulk_runs(store_uri, args.big_runs, "big")
        store = PostgresStore(store_uri)
        from runyard.status import RunStatus
        from runyard.store.base import RunRecord, SpoolEvent

        store.create_run(RunRecord("series", "series", RunStatus.COMPLETED, "local", time.time()))
        for lo in range(0, args.series_points, 100_000):
            events = [SpoolEvent("scalar", "loss", float(i % 977), i, 0, float(i))
                      for i in range(lo, min(args.series_points, lo + 100_000))]
            store.ingest("series", events, "s", lo, lo + 100_000)
        store.close()
        for name, ours in [
            (f"runs table, {args.big_runs:,} runs, newest first", lambda: fetch("/runs?experiment=big&limit=50")),
            (f"runs table, {args.big_runs:,} runs, ordered by a metric",
             lambda: fetch("/runs?experiment=big&limit=50&sort=metric:acc")),
            (f"chart series, {args.series_points:,} points -> 2,000",
             lambda: fetch("/runs/series/metrics/loss/series?max_points=2000")),
        ]:
            print(f"{name:58} {timed(ours):12.3f} {'-':>11}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["bash", cluster, "down", str(tmp / "pg")], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
