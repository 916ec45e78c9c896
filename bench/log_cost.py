"""Cost of `run.log()` per call, side by side with appending JSON lines to a buffered file.

    .venv/bin/python bench/log_cost.py [--calls 10000 100000] [--repeats 5]

Amortised cost: the time of N calls plus the time to get every point onto disk (the writer's
close/drain), divided by N. runyard is measured inside a real run context (Run.get_context()).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def jsonl_append(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    with open(path, "a", buffering=1 << 16) as f:
        for i in range(n):
            f.write(json.dumps({"key": "loss", "value": 1.0 / (i + 1), "step": i, "time": time.time()}) + "\n")
    return time.perf_counter() - t0


def runyard_log(run, n: int, value_of) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        run.log("loss", value_of(i), step=i)
    run._writer.close()  # drain everything to disk: part of the cost
    return time.perf_counter() - t0


def fresh_context(ws, exp):
    import runyard.run as run_module
    from runyard.launch.run_folder import RunFolder

    handle = exp.start_logging()
    os.environ["RUNYARD_RUN_ID"] = handle.id
    os.environ["RUNYARD_RUN_DIR"] = str(RunFolder(ws.runs_root / handle.id).path)
    run_module._context = None
    return run_module.Run.get_context()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    from runyard import Experiment, Workspace

    tmp = Path(tempfile.mkdtemp(prefix="runyard-logbench-"))
    try:
        ws = Workspace(tmp / "ws")
        exp = Experiment(ws, "logbench")
        print(f"amortised cost per call, median of {args.repeats} (microseconds)")
        print(f"{'calls':>8} {'JSONL append':>13} {'runyard float':>14} {'runyard tensor':>15} {'ratio float':>12}")
        for n in args.calls:
            rows: dict[str, list[float]] = {"jsonl": [], "float": [], "tensor": []}
            for r in range(args.repeats):
                rows["jsonl"].append(jsonl_append(tmp / f"plain-{n}-{r}.jsonl", n) / n * 1e6)
                rows["float"].append(runyard_log(fresh_context(ws, exp), n, lambda i: 1.0 / (i + 1)) / n * 1e6)
                t = torch.tensor(0.5)
                rows["tensor"].append(runyard_log(fresh_context(ws, exp), n, lambda i: t * i) / n * 1e6)
            med = {k: statistics.median(v) for k, v in rows.items()}
            print(f"{n:8d} {med['jsonl']:13.2f} {med['float']:14.2f} {med['tensor']:15.2f} "
                  f"{med['float'] / med['jsonl']:12.2f}")
        print("(tensor column includes building the tensor `t * i` in the loop, as a training step would)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
