"""Environment builds: runyard's uv layer vs `python -m venv` + pip, and the warm re-submit overhead.

    .venv/bin/python bench/environments.py [--repeats 3]

Cold: a fresh environment for the same package list, downloads included (no uv/pip cache) for both.
Warm: submit -> first line of a trivial script with the environment cached, vs the same run with no
packages (the difference is what a cached environment adds to a start).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit_latency import SCRIPT, measure_runyard  # noqa: E402

PACKAGES = ["tomli-w==1.2.0", "text-unidecode==1.3", "humanize==4.17.0", "toolz==1.2.0"]


def cold_runyard(tmp: Path) -> float:
    from runyard.environments.build import ensure_environment
    from runyard.environments.cache import EnvironmentCache
    from runyard.spec import EnvironmentSpec

    os.environ["UV_NO_CACHE"] = "1"
    try:
        t0 = time.perf_counter()
        ensure_environment(EnvironmentSpec(pip_packages=tuple(PACKAGES)), EnvironmentCache(tmp / "cache"),
                           tmp / "log.txt", lambda line: None)
        return time.perf_counter() - t0
    finally:
        del os.environ["UV_NO_CACHE"]


def cold_venv_pip(tmp: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], check=True)
    subprocess.run([str(tmp / "venv" / "bin" / "pip"), "install", "--quiet", "--no-cache-dir",
                    "--disable-pip-version-check", *PACKAGES], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from runyard import Experiment, Workspace
    from runyard.train.dnn import PyTorch

    tmp = Path(tempfile.mkdtemp(prefix="runyard-envbench-"))
    try:
        cold: dict[str, list[float]] = {"runyard (uv layer)": [], "python -m venv + pip": []}
        for r in range(args.repeats):
            cold["runyard (uv layer)"].append(cold_runyard(tmp / f"uv{r}"))
            cold["python -m venv + pip"].append(cold_venv_pip(tmp / f"pip{r}"))
        print(f"cold build of {', '.join(PACKAGES)} (seconds, median of {args.repeats}, no download cache)")
        for name, values in cold.items():
            print(f"  {name:24} {statistics.median(values):8.2f}")
        ratio = statistics.median(cold["python -m venv + pip"]) / statistics.median(cold["runyard (uv layer)"])
        print(f"  uv layer is {ratio:.1f}x faster")

        src = tmp / "proj"
        src.mkdir()
        (src / "first_line.py").write_text(SCRIPT)
        stamp = tmp / "stamp"
        exp = Experiment(Workspace(tmp / "ws"), "envbench")
        plain = PyTorch(str(src), entry_script="first_line.py", environment_variables={"STAMP_FILE": str(stamp)})
        cached = PyTorch(str(src), entry_script="first_line.py", environment_variables={"STAMP_FILE": str(stamp)},
                         pip_packages=PACKAGES)
        measure_runyard(exp, plain, stamp)
        measure_runyard(exp, cached, stamp)  # builds the environment once
        warm: dict[str, list[float]] = {"no packages": [], "cached environment": []}
        for _ in range(max(5, args.repeats)):
            warm["no packages"].append(measure_runyard(exp, plain, stamp))
            warm["cached environment"].append(measure_runyard(exp, cached, stamp))
        print("submit -> first line (seconds, median of 5)")
        for name, values in warm.items():
            print(f"  {name:24} {statistics.median(values):8.3f}")
        added = statistics.median(warm["cached environment"]) - statistics.median(warm["no packages"])
        print(f"  added by a cached environment: {added:+.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
