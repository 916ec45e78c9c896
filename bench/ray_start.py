"""Submit -> first line of the script on a Ray cluster: runyard's Ray target next to a plain Ray driver.

    .venv/bin/python bench/ray_start.py [--repeats 5]

Starts the two-node cluster of scripts/ray_cluster.sh (stop it with `bash scripts/ray_cluster.sh down`).
Baseline: a fresh driver process that joins the cluster, places one bundle per node (STRICT_SPREAD
for two) and runs the script in a task on each; what any launcher built on Ray does at least.
runyard: `exp.submit(PyTorch(..., compute_target=ray_target))`, which also snapshots the source, records
the run, starts its supervisor, and runs the node agent that starts the rank. Medians, interleaved.
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
SCRIPT = "import os, time\nopen(os.environ['STAMP_FILE'], 'a').write(repr(time.time()) + '\\n')\n"
DRIVER = """
import os, subprocess, sys, ray
from ray.util.placement_group import placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
address, nodes, script, stamp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ray.init(address=address, logging_level="ERROR", log_to_driver=False)
group = placement_group([{"CPU": 0.5}] * nodes, strategy="STRICT_SPREAD" if nodes > 1 else "PACK")
ray.get(group.ready())
@ray.remote(num_cpus=0)
def run(path, stamp):  # Ray workers do not inherit the driver's environment
    return subprocess.run([sys.executable, path], env={**os.environ, "STAMP_FILE": stamp}).returncode
ray.get([run.options(scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i))
         .remote(script, stamp) for i in range(nodes)])
"""


def _wait_stamps(stamp: Path, count: int, timeout: float = 120.0) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = stamp.read_text().splitlines() if stamp.exists() else []
        if len(lines) >= count:
            return max(float(x) for x in lines[:count])  # the last rank's first line: all are running
        time.sleep(0.002)
    raise TimeoutError(stamp)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    up = subprocess.run(["bash", str(ROOT / "scripts" / "ray_cluster.sh"), "up"], capture_output=True, text=True,
                        check=True)
    address = up.stdout.strip().splitlines()[-1].split("=", 1)[1]
    from runyard import ComputeTarget, Experiment, Workspace
    from runyard.compute.ray import RayCompute
    from runyard.train.dnn import PyTorch

    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        src = tmp / "proj"
        src.mkdir()
        (src / "first_line.py").write_text(SCRIPT)
        stamp = tmp / "stamp"
        os.environ["STAMP_FILE"] = str(stamp)
        ws = Workspace(tmp / "ws")
        target = ComputeTarget.attach(ws, "ray", RayCompute.attach_configuration(address, cpus_per_process=0.5))
        exp = Experiment(ws, "bench")

        def runyard(nodes: int) -> float:
            stamp.unlink(missing_ok=True)
            est = PyTorch(str(src), entry_script="first_line.py", compute_target=target, node_count=nodes,
                          distributed_backend="gloo" if nodes > 1 else None,
                          environment_variables={"STAMP_FILE": str(stamp)})
            t0 = time.time()
            run = exp.submit(est)
            first = _wait_stamps(stamp, nodes)
            run.wait_for_completion()
            return first - t0

        def driver(nodes: int) -> float:
            stamp.unlink(missing_ok=True)
            t0 = time.time()
            proc = subprocess.Popen([sys.executable, "-c", DRIVER, address, str(nodes), str(src / "first_line.py"),
                                     str(stamp)])
            first = _wait_stamps(stamp, nodes)
            proc.wait()
            return first - t0

        runyard(1)  # warm-up: workspace, page cache, the cluster's worker pool
        cases = {f"{kind} {n} node(s)": (fn, n) for n in (1, 2) for kind, fn in (("ray driver", driver),
                                                                                  ("runyard", runyard))}
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (fn, n) in cases.items():
                results[name].append(fn(n))
        print(f"submit -> first line on every node, median of {args.repeats} (seconds)")
        print(f"{'launcher':24} {'median':>8} {'min':>8} {'max':>8}")
        for name, values in results.items():
            print(f"{name:24} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
