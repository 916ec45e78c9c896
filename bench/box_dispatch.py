"""The box's dispatch: time from one run's end to the next run's first line, side by side with the same
sequence run back to back by hand (each run submitted when the previous one's wait_for_completion returns).

    .venv/bin/python bench/box_dispatch.py [--runs 8]

The script writes time.time() as its first and its last line. With the box limited to one run at a time
(`max_concurrent_runs=1`), all runs are submitted at once and the queue starts each one when the previous
ends; by hand, the loop submits the next one after waiting for the previous. The gap is next first line
minus previous last line; we report medians (and the worst). The goal: the queue within 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

SCRIPT = """import sys, time
from pathlib import Path
Path(sys.argv[1]).write_text(repr(time.time()) + "\\n")
time.sleep(0.3)
with open(sys.argv[1], "a") as f:
    f.write(repr(time.time()) + "\\n")
"""


def gaps(stamps: list[Path]) -> list[float]:
    spans = sorted(tuple(float(x) for x in s.read_text().split()) for s in stamps)
    return [b[0] - a[1] for a, b in zip(spans, spans[1:])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    from runyard import Experiment, Workspace
    from runyard.compute.base import ComputeTarget
    from runyard.train.dnn import PyTorch

    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-box-"))
    try:
        src = tmp / "proj"
        src.mkdir()
        (src / "stamp.py").write_text(SCRIPT)
        ws = Workspace(tmp / "ws")
        ComputeTarget(ws, "local").update(max_concurrent_runs=1)
        exp = Experiment(ws, "dispatch")

        def est(stamp: Path) -> PyTorch:
            e = PyTorch(source_directory=str(src), entry_script="stamp.py")
            e.arguments = [str(stamp)]
            return e

        exp.submit(est(tmp / "warm")).wait_for_completion()  # environment and imports warm, as when iterating
        queued = [tmp / f"queued_{i}" for i in range(args.runs)]
        runs = [exp.submit(est(s)) for s in queued]
        for run in runs:
            run.wait_for_completion()
        by_hand = [tmp / f"hand_{i}" for i in range(args.runs)]
        for stamp in by_hand:
            exp.submit(est(stamp)).wait_for_completion()
        q, h = gaps(queued), gaps(by_hand)
        print(f"{args.runs} runs of 0.3 s, one at a time (max_concurrent_runs=1); gap = next first line - "
              "previous last line")
        print(f"{'':28}{'median':>10}{'worst':>10}")
        print(f"{'queued (box dispatch)':28}{statistics.median(q):>9.3f}s{max(q):>9.3f}s")
        print(f"{'back to back by hand':28}{statistics.median(h):>9.3f}s{max(h):>9.3f}s")
        print(f"queue / by hand: {statistics.median(q) / statistics.median(h):.2f}x")
    finally:
        time.sleep(0.5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
