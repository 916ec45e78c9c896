"""Page load in a real browser, at size: a run with 100 metrics x 100k points (time until every chart is drawn)
and a runs table over 10k runs (time until the table is drawn), served by `runyard server`, measured in Debian's
Chromium through Playwright. MLflow's UI is the anchor on the same data when mlflow is installed
(`pip install -e .[bench]`); otherwise that row says so.

    .venv/bin/python bench/ui_load.py [--metrics 100] [--points 100000] [--runs 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runyard import Workspace  # noqa: E402
from runyard.status import RunStatus  # noqa: E402
from runyard.store.base import RunRecord, SpoolEvent  # noqa: E402
from tests.web import browser_page, start_server  # noqa: E402


def fill(ws: Workspace, metrics: int, points: int, runs: int) -> str:
    """One big run (metrics x points, stored as the supervisor would: batched ingests) and `runs` small ones."""
    store = ws.store
    big = "big_1700000000_abcdefgh"
    store.create_run(RunRecord(run_id=big, experiment="bench", status=RunStatus.COMPLETED, target="local",
                               created_time=time.time(), spec_json='{"arguments": ["--lr", "0.1"]}'))
    rng = np.random.default_rng(0)
    offset = 0
    for m in range(metrics):
        values = np.cumsum(rng.normal(size=points)) / 100
        for start in range(0, points, 20_000):
            events = [SpoolEvent("scalar", f"metric_{m:03d}", float(values[i]), i, 0, 1.7e9 + i)
                      for i in range(start, min(points, start + 20_000))]
            store.ingest(big, events, "rank-0.1.jsonl", offset, offset + 1)
            offset += 1
    for i in range(runs):
        run_id = f"small_{1700000000 + i}_aaaaaaaa"
        store.create_run(RunRecord(run_id=run_id, experiment=f"exp{i % 20}", status=RunStatus.COMPLETED,
                                   target="local", created_time=1.7e9 + i,
                                   spec_json=f'{{"arguments": ["--lr", "{0.001 * (i % 97)}"]}}'))
        store.ingest(run_id, [SpoolEvent("scalar", "accuracy", float(i % 100) / 100, None, 0, 1.7e9 + i)],
                     "rank-0.1.jsonl", 0, 1)
    return big


def timed(page, url: str, ready: str, count: int = 1) -> float:
    """From navigation (a fresh page load) until `count` elements match `ready`."""
    page.goto("about:blank")
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"document.querySelectorAll({ready!r}).length >= {count}", timeout=600_000)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-uibench-") as tmp:
        ws = Workspace(Path(tmp) / "ws")
        started = time.perf_counter()
        big = fill(ws, args.metrics, args.points, args.runs)
        print(f"filled: {args.metrics} metrics x {args.points:,} points and {args.runs:,} runs "
              f"in {time.perf_counter() - started:.1f} s")
        proc, base = start_server(ws)
        try:
            with browser_page(Path(tmp), viewport={"width": 1400, "height": 1000}, bypass_csp=True) as page:
                run_page = [timed(page, f"{base}/#/run/{big}", ".chart canvas", args.metrics)
                            for _ in range(args.repeats)]
                table = [timed(page, f"{base}/#/", "#runs tbody tr", 1) for _ in range(args.repeats)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"{'page (median of ' + str(args.repeats) + ')':44} {'runyard':>10} {'mlflow ui':>12}")
    mlflow = "not installed" if importlib.util.find_spec("mlflow") is None else "not measured"
    print(f"{f'run page, {args.metrics} charts drawn':44} {statistics.median(run_page):>9.2f}s {mlflow:>12}")
    print(f"{f'runs table of {args.runs:,} runs drawn':44} {statistics.median(table):>9.2f}s {mlflow:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
