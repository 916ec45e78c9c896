"""Submit -> first line of the script, for a run in a container (image cached) beside the same run as a process
and a bare `podman run` of the same image; and a Dockerfile environment's first submit (build) beside its second
(reused, no build).

    .venv/bin/python bench/container_start.py [--repeats 5]

Needs Podman and mmdebstrap (scripts/setup.sh); the image is made by scripts/container_image.sh in a temp
Podman storage, removed after. Medians over the repeats; runyard measured warm (one run already done).
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

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/runyard-test-debian:bookworm"
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--events-backend=file"]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit_latency import SCRIPT, _wait_stamp  # noqa: E402 - the same stamp script and wait as the process bench


def _first_line(stamp: Path) -> float:
    return _wait_stamp(stamp, timeout=600.0)  # a first Dockerfile build may take a while


def _submit(exp: object, config: object, stamp: Path) -> float:
    stamp.unlink(missing_ok=True)
    started = time.time()
    run = exp.submit(config)  # type: ignore[attr-defined]
    first = _first_line(stamp)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run.id
    return first - started


def _bare_podman(stamp: Path, folder: Path) -> float:
    stamp.unlink(missing_ok=True)
    started = time.time()
    subprocess.run([*PODMAN, "run", "--rm", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit",
                    "nproc=4096:4096", "--volume", f"{folder}:{folder}", "--env", f"STAMP_FILE={stamp}", IMAGE,
                    "python3", str(folder / "src" / "stamp.py")], check=True, capture_output=True)
    return _first_line(stamp) - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from runyard import Experiment, Workspace
    from runyard.core import Environment, ScriptRunConfig

    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    storage = tmp / "podman"
    subprocess.run(["bash", str(ROOT / "scripts" / "container_image.sh"), str(storage)], check=True,
                   capture_output=True)
    os.environ["CONTAINERS_STORAGE_CONF"] = str(storage / "storage.conf")
    try:
        src = tmp / "src"
        src.mkdir()
        (src / "stamp.py").write_text(SCRIPT)
        stamp = tmp / "ws" / "stamp.txt"
        exp = Experiment(Workspace(str(tmp / "ws")), "bench")
        variables = {"STAMP_FILE": str(stamp)}
        plain = ScriptRunConfig(str(src), "stamp.py")
        plain.run_config.environment_variables = variables
        image_env = Environment("image")
        image_env.docker.base_image = IMAGE
        image_env.environment_variables = variables
        contained = ScriptRunConfig(str(src), "stamp.py", environment=image_env)
        _submit(exp, plain, stamp), _submit(exp, contained, stamp)  # warm: workspace, image, caches
        rows = {"process run": [], "container run (image cached)": [], "bare podman run": []}
        for _ in range(args.repeats):
            rows["process run"].append(_submit(exp, plain, stamp))
            rows["container run (image cached)"].append(_submit(exp, contained, stamp))
            rows["bare podman run"].append(_bare_podman(stamp, tmp))
        built = Environment.from_dockerfile("built", f"FROM {IMAGE}\nRUN echo {time.time()} > /etc/built\n")
        built.environment_variables = variables
        first_build = _submit(exp, ScriptRunConfig(str(src), "stamp.py", environment=built), stamp)
        reused = [_submit(exp, ScriptRunConfig(str(src), "stamp.py", environment=built), stamp)
                  for _ in range(args.repeats)]
        print(f"submit -> first line, median of {args.repeats} (seconds)")
        for name, values in rows.items():
            print(f"  {name:32s} {statistics.median(values):6.3f}   (min {min(values):.3f}, max {max(values):.3f})")
        extra = statistics.median(rows["container run (image cached)"]) - statistics.median(rows["process run"])
        print(f"  the container's cost over the process run: {extra:.3f} s "
              f"({extra / statistics.median(rows['bare podman run']):.2f}x a bare podman run's whole start)")
        print(f"Dockerfile environment: first submit (builds) {first_build:.3f} s, "
              f"then reused (no build) median {statistics.median(reused):.3f} s")
    finally:
        subprocess.run([*PODMAN, "rm", "--all", "--force"], capture_output=True)
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            if line.split()[1].startswith(str(tmp)):
                subprocess.run(["umount", "-l", line.split()[1]], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
