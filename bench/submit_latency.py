"""Submit -> first line of the user script, side by side with plain `python` and `torchrun`.

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


def _wait_stamp(stamp: Path, timeout: float = 60.0) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stamp.exists() and stamp.read_text().endswith("\n"):
            return float(stamp.read_text().split()[0])
        time.sleep(0.001)
    raise TimeoutError(stamp)


def measure_process(cmd: list[str], stamp: Path) -> float:
    stamp.unlink(missing_ok=True)
    t0 = time.time()
    proc = subprocess.Popen(cmd, env={**os.environ, "STAMP_FILE": str(stamp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = _wait_stamp(stamp)
    proc.wait()
    return first - t0


def measure_runyard(exp, est, stamp: Path) -> float:
    stamp.unlink(missing_ok=True)
    t0 = time.time()
    run = exp.submit(est)
    first = _wait_stamp(stamp)
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
        measure_runyard(exp, est, stamp)  # warm-up: workspace, blobs, page cache
        torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
        launchers = {
            "python script.py": lambda: measure_process([sys.executable, str(src / "first_line.py")], stamp),
            "torchrun --nproc_per_node=1": lambda: measure_process(
                [torchrun, "--nproc_per_node=1", str(src / "first_line.py")], stamp),
            "runyard exp.submit(PyTorch)": lambda: measure_runyard(exp, est, stamp),
        }
        results: dict[str, list[float]] = {name: [] for name in launchers}
        for _ in range(args.repeats):  # interleaved, so drift hits every launcher alike
            for name, fn in launchers.items():
                results[name].append(fn())
        base = statistics.median(results["python script.py"])
        print(f"submit -> first line of the script, median of {args.repeats} (seconds)")
        print(f"{'launcher':32} {'median':>8} {'min':>8} {'max':>8} {'minus python':>13}")
        for name, values in results.items():
            med = statistics.median(values)
            print(f"{name:32} {med:8.3f} {min(values):8.3f} {max(values):8.3f} {med - base:+13.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
