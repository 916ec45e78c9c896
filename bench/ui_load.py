"""Page load in a real browser, at size: a run with 100 metrics x 100k points (time until its first chart and
until every chart is drawn) and a runs table over 10k runs (time until the table is drawn), served by
`runyard server` and, on the same data, by MLflow's UI (`mlflow server`, SQLite store), in the same Debian
Chromium through Playwright. MLflow needs the bench extra (`pip install -e .[bench]`); without it its column
says so.

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runyard import Workspace  # noqa: E402
from tests.metric_fill import big_run, small_runs  # noqa: E402
from tests.web import browser_page, free_port, start_server  # noqa: E402

BIG = "big_1700000000_abcdefgh"
WAIT_MS = 90_000


def timed(page, url: str, marks: list[tuple[str, int]]) -> list[float | str]:
    """From navigation (after a blank page) until, for each (selector, n), n elements match it; a mark not
    reached within WAIT_MS is said as how many matched by then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto("about:blank")
    started = time.perf_counter()
    page.goto(url)
    seen: list[float | str] = []
    for selector, n in marks:
        try:
            page.locator(selector).nth(n - 1).wait_for(state="attached", timeout=WAIT_MS)
            seen.append(time.perf_counter() - started)
        except PlaywrightTimeout:
            seen.append(f"{page.locator(selector).count()}/{n} in {WAIT_MS // 1000}s")
    return seen


def _median(values: list[float | str]) -> float | str:
    numbers = [v for v in values if isinstance(v, float)]
    return statistics.median(numbers) if len(numbers) == len(values) else next(v for v in values if isinstance(v, str))


def measure(page, run_url: str, chart: str, table_url: str, row: str, metrics: int, repeats: int) -> dict:
    # the browser has shown the UI before (as when a user opens a run from the runs table); then the run page's
    # first visit (nothing cached by the server), and the median of the visits after it (a page opened again)
    timed(page, table_url, [(row, 1)])
    run = [timed(page, run_url, [(chart, 1), (chart, metrics)]) for _ in range(repeats + 1)]
    table = [timed(page, table_url, [(row, 1)])[0] for _ in range(repeats)]
    numbers = {"first_cold": run[0][0], "all_cold": run[0][1], "first": _median([r[0] for r in run[1:]]),
               "all": _median([r[1] for r in run[1:]]), "table": _median(table)}
    print(numbers, flush=True)
    return numbers


def runyard_numbers(tmp: Path, args: argparse.Namespace) -> dict:
    ws = Workspace(tmp / "ws")
    started = time.perf_counter()
    big_run(ws, BIG, args.metrics, args.points)
    small_runs(ws, args.runs)
    print(f"runyard filled in {time.perf_counter() - started:.1f} s")
    proc, base = start_server(ws)
    try:
        with browser_page(tmp / "ry", viewport={"width": 1400, "height": 1000}) as page:
            return measure(page, f"{base}/#/run/{BIG}", ".chart canvas", f"{base}/#/", "#runs tbody tr",
                           args.metrics, args.repeats)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def mlflow_numbers(tmp: Path, args: argparse.Namespace) -> dict | None:
    if importlib.util.find_spec("mlflow") is None:
        return None
    from bench.mlflow_ui import fill_mlflow, mlflow_server

    started = time.perf_counter()
    data = fill_mlflow(tmp, args.metrics, args.points, args.runs)
    print(f"mlflow filled in {time.perf_counter() - started:.1f} s")
    with mlflow_server(data.db, free_port()) as base:
        with browser_page(tmp / "ml", viewport={"width": 1400, "height": 1000}) as page:
            # its charts are Plotly plots; a drawn one has a trace
            return measure(page, f"{base}/#/experiments/{data.experiment_id}/runs/{data.big_run}/model-metrics",
                           ".js-plotly-plot .scatterlayer .trace", f"{base}/#/experiments/{data.experiment_id}/runs",
                           ".ag-row", args.metrics, args.repeats)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--without-mlflow", action="store_true", help="runyard's numbers only (quicker)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-uibench-") as tmp:
        ours = runyard_numbers(Path(tmp), args)
        theirs = None if args.without_mlflow else mlflow_numbers(Path(tmp), args)
    print(f"{'page (again: median of ' + str(args.repeats) + ')':44} {'runyard':>10} {'mlflow ui':>12} {'ratio':>7}")
    rows = [(f"run page, first of {args.metrics} charts, first visit", "first_cold"),
            (f"run page, all {args.metrics} charts, first visit", "all_cold"),
            (f"run page, first of {args.metrics} charts, again", "first"),
            (f"run page, all {args.metrics} charts, again", "all"),
            (f"runs table of {args.runs:,} runs drawn", "table")]
    shown = lambda v: f"{v:.2f}s" if isinstance(v, float) else str(v)  # noqa: E731
    for label, key in rows:
        other = shown(theirs[key]) if theirs else "not measured"
        both = theirs and isinstance(ours[key], float) and isinstance(theirs[key], float)
        ratio = f"{ours[key] / theirs[key]:.2f}" if both else ""
        print(f"{label:44} {shown(ours[key]):>10} {other:>12} {ratio:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
