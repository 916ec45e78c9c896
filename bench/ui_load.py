"""Page load in a real browser, at size: a run with 100 metrics x 100k points (time until its first chart and
until every chart is drawn) and a runs table over 10k runs (time until the table is drawn), served by
`runyard server` and, on the same data, by MLflow's UI (`mlflow server`, SQLite store), in the same Debian
Chromium through Playwright. Each time is printed twice: on the page's own clock (from its navigation start to
the first frame showing it: what a user sees) and as the harness sees it (page.goto's round trips and the
console message added). MLflow needs the bench extra (`pip install -e .[bench]`); without it its column says so.

    .venv/bin/python bench/ui_load.py [--metrics 100] [--points 100000] [--runs 10000] [--cold 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runyard import Workspace  # noqa: E402
from tests.metric_fill import big_run, small_runs  # noqa: E402
from tests.web import browser_page, free_port, start_server  # noqa: E402

BIG = "big_1700000000_abcdefgh"
WAIT_MS = 90_000


# Each page records, on its own clock (ms since its navigation started), the first frame in which a mark's selector
# matched n elements, and says so on its console: what a user sees. The harness waits for those console lines rather
# than polling a locator, whose script Playwright compiles and runs in the page's main thread (~20 ms of it, while
# the page is drawing its first screen: a cost no user has).
PAGE_MARKS = """
(() => {
  const marks = %s;
  const seen = marks.map(() => null);
  const tick = () => {
    marks.forEach(([selector, n], i) => {
      if (seen[i] !== null || document.querySelectorAll(selector).length < n) return;
      seen[i] = performance.now() / 1000;
      console.debug("%s" + JSON.stringify([i, seen[i]]));
    });
    if (seen.includes(null)) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""
MARK_LINE = "runyard-bench-mark "


@dataclass(frozen=True)
class Mark:
    wall: float | str  # seconds from page.goto to the harness hearing of it (its round trips included), or why not
    page: float | str  # seconds from navigation start, on the page's clock


@dataclass
class Watcher:
    """The marks every page of a tab records, and those the current page has reported (index -> (page s, wall s))."""

    marks: list[tuple[str, int]]
    reached: dict[int, tuple[float, float]]


def watch(page, marks: list[tuple[str, int]]) -> Watcher:
    """Have every page this tab loads report when each of `marks` (selector, n) is first reached."""
    watcher = Watcher(marks, {})
    page.add_init_script(PAGE_MARKS % (json.dumps(marks), MARK_LINE))

    def heard(message) -> None:
        if message.text.startswith(MARK_LINE):
            index, on_page = json.loads(message.text[len(MARK_LINE):])
            watcher.reached.setdefault(index, (on_page, time.perf_counter()))

    page.on("console", heard)
    return watcher


def timed(page, url: str, marks: list[tuple[str, int]], watcher: Watcher) -> list[Mark]:
    """From navigation (after a blank page) until, for each (selector, n), n elements match it; a mark not
    reached within WAIT_MS is said as how many matched by then."""
    page.goto("about:blank")
    watcher.reached.clear()
    started = time.perf_counter()
    page.goto(url)
    wanted = [watcher.marks.index(mark) for mark in marks]
    deadline = started + WAIT_MS / 1000
    while time.perf_counter() < deadline and not all(i in watcher.reached for i in wanted):
        page.wait_for_timeout(20)  # the harness's own clock: nothing runs in the page
    seen: list[Mark] = []
    for (selector, n), index in zip(marks, wanted):
        if index in watcher.reached:
            on_page, heard_at = watcher.reached[index]
            seen.append(Mark(heard_at - started, on_page))
        else:
            missed = f"{page.locator(selector).count()}/{n} in {WAIT_MS // 1000}s"
            seen.append(Mark(missed, missed))
    return seen


def _median(values: list[float | str]) -> float | str:
    numbers = [v for v in values if isinstance(v, float)]
    return statistics.median(numbers) if len(numbers) == len(values) else next(v for v in values if isinstance(v, str))


@dataclass(frozen=True)
class Pages:
    """What one UI's pages are, for the same measurements: a run page with `metrics` charts, the runs table."""

    run_url: str
    chart: str  # a selector matching each drawn chart
    table_url: str
    row: str  # a selector matching each drawn row of the runs table
    metrics: int


def measure(page, pages: Pages, repeats: int) -> dict:
    """One server and browser: the runs table (the browser has shown the UI, as when a user opens a run from it),
    the run page's first visit (nothing cached by the server), then `repeats` visits again and to the table."""
    marks = [(pages.chart, 1), (pages.chart, pages.metrics), (pages.row, 1)]
    watcher = watch(page, marks)
    timed(page, pages.table_url, [(pages.row, 1)], watcher)
    run = [timed(page, pages.run_url, [(pages.chart, 1), (pages.chart, pages.metrics)], watcher)
           for _ in range(repeats + 1)]
    table = [timed(page, pages.table_url, [(pages.row, 1)], watcher)[0] for _ in range(repeats)]
    return {clock: {"first_cold": getattr(run[0][0], clock), "all_cold": getattr(run[0][1], clock),
                    "first": _median([getattr(r[0], clock) for r in run[1:]]) if repeats else "-",
                    "all": _median([getattr(r[1], clock) for r in run[1:]]) if repeats else "-",
                    "table": _median([getattr(t, clock) for t in table]) if repeats else "-"}
            for clock in ("wall", "page")}


def sessions(serve, pages: Pages, tmp: Path, args: argparse.Namespace) -> dict:
    """`args.cold` first visits, each with a new server (`serve()`: a context giving its base URL) and a new browser
    profile: their medians are the first-visit numbers (one visit varies by +-0.1 s on a 2-core machine); the first
    session also measures the visits after it."""
    runs = []
    for i in range(args.cold):
        with serve() as base, browser_page(tmp / f"profile-{i}", viewport={"width": 1400, "height": 1000}) as page:
            at = Pages(base + pages.run_url, pages.chart, base + pages.table_url, pages.row, pages.metrics)
            runs.append(measure(page, at, args.repeats if i == 0 else 0))
    numbers = {clock: {**runs[0][clock], **{key: _median([r[clock][key] for r in runs])
                                            for key in ("first_cold", "all_cold")}} for clock in ("wall", "page")}
    print(numbers, flush=True)
    return numbers


def runyard_numbers(tmp: Path, args: argparse.Namespace) -> dict:
    ws = Workspace(tmp / "ws")
    started = time.perf_counter()
    big_run(ws, BIG, args.metrics, args.points)
    small_runs(ws, args.runs)
    print(f"runyard filled in {time.perf_counter() - started:.1f} s")

    @contextmanager
    def serve() -> Iterator[str]:
        proc, base = start_server(ws)
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    return sessions(serve, Pages(f"/#/run/{BIG}", ".chart canvas", "/#/", "#runs tbody tr", args.metrics),
                    tmp / "ry", args)


def mlflow_ui_missing() -> str | None:
    """Why MLflow's UI cannot be measured here (mlflow-skinny, which the test extra brings, has no UI), or None."""
    spec = importlib.util.find_spec("mlflow")
    if spec is None or spec.origin is None:
        return "mlflow is not installed"
    if not (Path(spec.origin).parent / "server" / "js" / "build" / "index.html").is_file():
        return "mlflow is installed without its UI (mlflow-skinny)"
    return None


def mlflow_numbers(tmp: Path, args: argparse.Namespace) -> dict | None:
    missing = mlflow_ui_missing()
    if missing:
        print(f"MLflow's UI not measured: {missing}. Fix: .venv/bin/pip install -e '.[bench]'", flush=True)
        return None
    from bench.mlflow_ui import fill_mlflow, mlflow_server

    started = time.perf_counter()
    data = fill_mlflow(tmp, args.metrics, args.points, args.runs)
    print(f"mlflow filled in {time.perf_counter() - started:.1f} s")
    experiment = f"/#/experiments/{data.experiment_id}"
    # its charts are Plotly plots; a drawn one has a trace
    pages = Pages(f"{experiment}/runs/{data.big_run}/model-metrics", ".js-plotly-plot .scatterlayer .trace",
                  f"{experiment}/runs", ".ag-row", args.metrics)
    return sessions(lambda: mlflow_server(data.db, free_port()), pages, tmp / "ml", args)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="visits again, after the first")
    parser.add_argument("--cold", type=int, default=5, help="first visits, each with a new server and browser")
    parser.add_argument("--without-mlflow", action="store_true", help="runyard's numbers only (quicker)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runyard-uibench-") as tmp:
        ours = runyard_numbers(Path(tmp), args)
        theirs = None if args.without_mlflow else mlflow_numbers(Path(tmp), args)
    rows = [(f"run page, first of {args.metrics} charts, first visit", "first_cold"),
            (f"run page, all {args.metrics} charts, first visit", "all_cold"),
            (f"run page, first of {args.metrics} charts, again", "first"),
            (f"run page, all {args.metrics} charts, again", "all"),
            (f"runs table of {args.runs:,} runs drawn", "table")]
    shown = lambda v: f"{v:.2f}s" if isinstance(v, float) else str(v)  # noqa: E731
    for clock, title in (("page", "on the page's clock (from navigation start)"),
                         ("wall", "as the harness sees it (page.goto + the console message)")):
        print(f"\n{title}; first visit = median of {args.cold} (a new server and browser each), "
              f"again = median of {args.repeats}")
        print(f"{'page':44} {'runyard':>10} {'mlflow ui':>12} {'ratio':>7}")
        for label, key in rows:
            mine = ours[clock][key]
            other = theirs[clock][key] if theirs else "not measured"
            both = isinstance(mine, float) and isinstance(other, float)
            ratio = f"{mine / other:.2f}" if both else ""
            print(f"{label:44} {shown(mine):>10} {shown(other):>12} {ratio:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
