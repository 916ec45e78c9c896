"""The tracking benchmark: one command, runyard next to its anchors.

    .venv/bin/python bench/tracking.py [--quick]

Part 1: amortised cost of logging one point (mlflow, TensorBoard, wandb need `pip install -e .[bench]`;
        a missing one is listed as not installed). Part 2: queries at size, and 8 runs logging at once.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tracking_log  # noqa: E402
import tracking_queries  # noqa: E402


def part_log(sizes: list[int], repeats: int) -> None:
    print("Part 1: amortised cost per logged point (microseconds, median of", repeats, "runs)")
    print(f"{'logger':30} " + " ".join(f"{f'{n:,} calls':>22}" for n in sizes))
    floor: dict[int, float] = {}
    results: dict[str, dict[int, str]] = {}
    for name, (fn, fixed) in tracking_log.LOGGERS.items():
        row = {}
        for n in sizes:
            calls = min(n, fixed) if fixed else n
            samples = []
            try:
                for _ in range(repeats if calls == n else 1):
                    tmp = Path(tempfile.mkdtemp(prefix="runyard-logbench-"))
                    try:
                        samples.append(fn(tmp, calls) / calls * 1e6)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
            except ImportError as e:
                row[n] = f"not installed ({e.name})"
                continue
            value = statistics.median(samples)
            if name.startswith("JSON"):
                floor[n] = value
            note = "" if calls == n else f" [{calls:,} calls]"
            row[n] = f"{value:9.2f} ({value / floor[n]:6.1f}x){note}"
        results[name] = row
        print(f"{name:30} " + " ".join(f"{row[n]:>22}" for n in sizes), flush=True)
    print("(x = times the JSON-line floor; [N calls] = measured at N calls: the slow loggers are timed at fewer)")


def part_queries(quick: bool) -> None:
    sizes = dict(points=100_000, keys=20, key_points=2_000, runs=1_000) if quick else \
        dict(points=1_000_000, keys=100, key_points=10_000, runs=10_000)
    tmp = Path(tempfile.mkdtemp(prefix="runyard-querybench-"))
    try:
        print("\nPart 2: queries (seconds, median)")
        for name, value in tracking_queries.runyard_queries(tmp, **sizes).items():
            print(f"  runyard  {name:58} {value:10.4f}")
        try:
            runs = 100 if quick else 1_000
            for name, value in tracking_queries.mlflow_queries(tmp, runs, 1_000).items():
                print(f"  mlflow   {name:58} {value:10.4f}")
        except ImportError:
            print("  mlflow   not installed: pip install -e .[bench]")
        result = tracking_queries.concurrent_runs(tmp, 8, 10_000 if quick else 100_000)
        print(f"  runyard  {result['runs']} runs x {result['points each']:,} points at once: stored "
              f"{result['stored']:,} of {result['expected']:,}, failed writers {result['writer processes failed']}, "
              f"{result['seconds']:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat (a smoke run)")
    args = parser.parse_args()
    part_log([10_000] if args.quick else [10_000, 100_000], 1 if args.quick else 3)
    part_queries(args.quick)


if __name__ == "__main__":
    main()
