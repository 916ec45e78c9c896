"""Submit -> first line of the user script, side by side with plain `python` and `torchrun`, for one
process and for a 1 node x 2 processes distributed run (to the first line of its last rank).

    .venv/bin/python bench/submit_latency.py [--repeats 7]

A trivial script appends time.time() to a file as its first line. For each launcher we take the
time just before launching and the time that first line ran; we report medians over the repeats.
runyard is measured warm: workspace open, one submission already done (as when you iterate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "import os, time\nopen(os.environ['STAMP_FILE'], 'a').write(repr(time.time()) + '\\n')\n"


def _wait_stamp(stamp: Path, lines: int = 1, timeout: float = 60.0) -> float:
    """When the last of `lines` processes ran its first line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = stamp.read_text() if stamp.exists() else ""
        if text.endswith("\n") and len(text.split()) >= lines:
            return max(map(float, text.split()))
        time.sleep(0.001)
    raise TimeoutError(stamp)


def measure_process(cmd: list[str], stamp: Path, lines: int = 1) -> float:
    stamp.unlink(missing_ok=True)
    t0 = time.time()
    proc = subprocess.Popen(cmd, env={**os.environ, "STAMP_FILE": str(stamp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = _wait_stamp(stamp, lines)
    proc.wait()
    return first - t0


def measure_runyard(exp, est, stamp: Path, lines: int = 1) -> float:
    stamp.unlink(missing_ok=True)
    t0 = time.time()
    run = exp.submit(est)
    first = _wait_stamp(stamp, lines)
    run.wait_for_completion()
    return first - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from runyard import Experiment, Workspace
    from runyard.train.dnn import PyTorch

    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        src = tmp / "proj"
        src.mkdir()
        (src / "first_line.py").write_text(SCRIPT)
        stamp = tmp / "stamp"
        ws = Workspace(tmp / "ws")
        exp = Experiment(ws, "bench")
        est = PyTorch(str(src), entry_script="first_line.py", environment_variables={"STAMP_FILE": str(stamp)})
        two = PyTorch(str(src), entry_script="first_line.py", environment_variables={"STAMP_FILE": str(stamp)},
                      node_count=1, process_count_per_node=2, distributed_backend="gloo")
        measure_runyard(exp, est, stamp)  # warm-up: workspace, blobs, page cache, the supervisor fork server
        measure_runyard(exp, two, stamp, lines=2)
        torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
        launchers = {
            "python script.py": lambda: measure_process([sys.executable, str(src / "first_line.py")], stamp),
            "torchrun --nproc_per_node=1": lambda: measure_process(
                [torchrun, "--nproc_per_node=1", str(src / "first_line.py")], stamp),
            "runyard exp.submit(PyTorch)": lambda: measure_runyard(exp, est, stamp),
            "torchrun --nproc_per_node=2": lambda: measure_process(
                [torchrun, "--nproc_per_node=2", str(src / "first_line.py")], stamp, lines=2),
            "runyard 1 node x 2 processes": lambda: measure_runyard(exp, two, stamp, lines=2),
        }
        results: dict[str, list[float]] = {name: [] for name in launchers}
        for _ in range(args.repeats):  # interleaved, so drift hits every launcher alike
            for name, fn in launchers.items():
                results[name].append(fn())
        base = statistics.median(results["python script.py"])
        print(f"submit -> first line of the script (of its last rank), median of {args.repeats} (seconds)")
        print(f"{'launcher':32} {'median':>8} {'min':>8} {'max':>8} {'minus python':>13}")
        for name, values in results.items():
            med = statistics.median(values)
            print(f"{name:32} {med:8.3f} {min(values):8.3f} {max(values):8.3f} {med - base:+13.3f}")
        two_ranks = statistics.median(results["runyard 1 node x 2 processes"])
        print(f"distributed start 1x2: runyard / torchrun = "
              f"{two_ranks / statistics.median(results['torchrun --nproc_per_node=2']):.3f} (goal <= 0.333)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
