"""Server latency at size: the runs-table API over 10k runs and the chart API over a 1M-point series,
side by side with the same queries on the store directly (what the API adds).

    .venv/bin/python bench/server.py [--runs 10000] [--points 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking_queries import _ingest, _new_run  # noqa: E402


def timed(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from runyard import Workspace
    from runyard.store import SpoolEvent
    from runyard.tracking.query import get_series, run_table

    tmp = Path(tempfile.mkdtemp(prefix="runyard-serverbench-"))
    proc = None
    try:
        ws = Workspace(tmp / "ws")
        store = ws.store
        for r in range(args.runs):
            _new_run(store, f"run{r:05d}", "table")
            _ingest(store, f"run{r:05d}", [SpoolEvent("scalar", k, float(i * (r + 1)), i, 0, float(i))
                                           for k in ("loss", "acc") for i in range(5)], "s")
        _new_run(store, "big", "series")
        for start in range(0, args.points, 100_000):
            _ingest(store, "big", [SpoolEvent("scalar", "loss", float(i % 977), i, 0, float(i))
                                   for i in range(start, min(args.points, start + 100_000))], "s")
        port = 8899
        proc = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(ws.path), "server", "--port",
                                 str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/version", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def fetch(path: str) -> bytes:
            return urllib.request.urlopen(base + path, timeout=60).read()

        rows = [
            (f"runs table, {args.runs:,} runs, first page by date",
             lambda: fetch("/runs?experiment=table&limit=50"),
             lambda: (store.count_runs(experiment="table"),
                      run_table(store, run_ids=[r.run_id for r in store.list_runs(experiment="table", limit=50)]))),
            (f"runs table, {args.runs:,} runs, sorted by a metric",
             lambda: fetch("/runs?experiment=table&limit=50&sort=metric:loss"),
             lambda: (store.list_runs(experiment="table"), run_table(store, experiment="table"))),
            (f"chart series, {args.points:,} points -> 2,000",
             lambda: fetch("/runs/big/metrics/loss/series?max_points=2000"),
             lambda: get_series(store, "big", "loss", max_points=2000)),
        ]
        print(f"{'query':48} {'API (s)':>9} {'store (s)':>10}")
        for name, via_api, direct in rows:
            print(f"{name:48} {timed(via_api, args.repeats):9.3f} {timed(direct, args.repeats):10.3f}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
