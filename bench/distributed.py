"""Distributed start-up and throughput: runyard's launcher side by side with torchrun.

    .venv/bin/python bench/distributed.py [--repeats 3] [--steps 200]

1. submit -> every rank inside init_process_group (the max over ranks), for 1x2 and 2x2 layouts.
2. DDP steps/s measured inside the script (after warm-up) under runyard vs under torchrun, 1x2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """
import json, os, sys, time
import torch, torch.distributed as dist
dist.init_process_group("gloo")
inside = time.time()
out = os.environ["BENCH_OUT"]
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(256, 256))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 256)
steps = int(os.environ["BENCH_STEPS"])
def step():
    opt.zero_grad(); model(x).sum().backward(); opt.step()
for _ in range(20):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
rate = steps / (time.perf_counter() - t0)
with open(os.path.join(out, f"{dist.get_rank()}.json"), "w") as f:
    json.dump({"inside": inside, "steps_per_s": rate}, f)
dist.barrier()  # rank 0 hosts the rendezvous store: nobody leaves before all are done
dist.destroy_process_group()
"""


def collect(out: Path, world: int) -> tuple[float, float]:
    reports = [json.loads((out / f"{r}.json").read_text()) for r in range(world)]
    return max(r["inside"] for r in reports), statistics.mean(r["steps_per_s"] for r in reports)


def run_torchrun(src: Path, out: Path, nodes: int, ppn: int, steps: int) -> tuple[float, float]:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_STEPS": str(steps)}
    from runyard.compute.local import free_port

    port = free_port()
    t0 = time.time()
    procs = [subprocess.Popen([torchrun, f"--nnodes={nodes}", f"--node_rank={n}", f"--nproc_per_node={ppn}",
                               "--master_addr=127.0.0.1", f"--master_port={port}", str(src / "bench_ddp.py")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for n in range(nodes)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"torchrun failed: {err.decode()[-2000:]}")
    inside, rate = collect(out, nodes * ppn)
    return inside - t0, rate


def run_runyard(exp, src: Path, out: Path, nodes: int, ppn: int, steps: int) -> tuple[float, float]:
    from runyard.train.dnn import PyTorch

    est = PyTorch(str(src), entry_script="bench_ddp.py", node_count=nodes, process_count_per_node=ppn,
                  distributed_backend="gloo", environment_variables={"BENCH_OUT": str(out), "BENCH_STEPS": str(steps)})
    t0 = time.time()
    run = exp.submit(est)
    details = run.wait_for_completion(raise_on_error=False)
    if details["status"] != "Completed":
        raise SystemExit(f"runyard run {run.id} {details['status']}: {details.get('error')}")
    inside, rate = collect(out, nodes * ppn)
    return inside - t0, rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    from runyard import Experiment, Workspace

    tmp = Path(tempfile.mkdtemp(prefix="runyard-distbench-"))
    try:
        src = tmp / "src"
        src.mkdir()
        (src / "bench_ddp.py").write_text(SCRIPT)
        exp = Experiment(Workspace(tmp / "ws"), "distbench")
        print(f"{'layout':7} {'launcher':9} {'start->all ranks inside init (s)':>33} {'DDP steps/s':>12}")
        ratios = []
        for nodes, ppn in ((1, 2), (2, 2)):
            results: dict[str, list[tuple[float, float]]] = {"torchrun": [], "runyard": []}
            for r in range(args.repeats):
                for name in results:
                    out = tmp / f"out-{name}-{nodes}x{ppn}-{r}"
                    out.mkdir()
                    fn = run_torchrun if name == "torchrun" else (lambda *a: run_runyard(exp, *a))
                    results[name].append(fn(src, out, nodes, ppn, args.steps))
            for name, values in results.items():
                start = statistics.median(v[0] for v in values)
                rate = statistics.median(v[1] for v in values)
                print(f"{nodes}x{ppn:<5} {name:9} {start:33.3f} {rate:12.1f}")
            ratios.append((nodes, ppn, statistics.median(v[1] for v in results["runyard"]) /
                           statistics.median(v[1] for v in results["torchrun"])))
        for nodes, ppn, ratio in ratios:
            print(f"steps/s runyard / torchrun at {nodes}x{ppn}: {ratio:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
