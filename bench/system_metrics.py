"""What the system sampler costs: its CPU time at 1 s sampling with 8 ranks, and a CPU training loop's steps/s
with the sampler on vs off, side by side in one run.

    .venv/bin/python bench/system_metrics.py [--seconds 30] [--repeats 3]

Part 1 starts 8 processes (each with a child, as DataLoader workers are), points one sampler at them for
`--seconds`, and reports the sampler thread's CPU seconds per wall second (% of one core; the goal is <= 1%).
Part 2 submits the same torch training loop as runyard runs, alternating RUNYARD_SYSTEM_METRICS=1 and =0, and
reports the median steps/s of each (the goal: the same within noise).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOP = """
import time, torch
from runyard import Run
run = Run.get_context()
torch.set_num_threads(1)
model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < SECONDS:
    opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step(); steps += 1
run.log("steps_per_second", steps / (time.perf_counter() - start))
"""


def sampler_cost(seconds: float, spool: Path) -> tuple[float, int]:
    from runyard.launch.system_sampler import SystemSampler

    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); " \
            "time.sleep(600)"
    ranks = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(8)]
    try:
        time.sleep(1.0)
        sampler = SystemSampler(spool, 0, lambda: {r: p.pid for r, p in enumerate(ranks)}, {}, str(spool)).start()
        time.sleep(seconds)
        sampler.stop()
        lines = [ln for f in spool.glob("system-*.jsonl") for ln in f.read_text().splitlines()]
        cpu = max(float(ln.split("[", 2)[2].split(",")[0]) for ln in lines if "sampler_cpu_seconds" in ln)
        return cpu, len(lines)
    finally:
        for p in ranks:
            subprocess.run(["pkill", "-P", str(p.pid)], check=False)
            p.kill()
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-seconds", type=float, default=8.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-system-"))
    try:
        cpu, lines = sampler_cost(args.seconds, tmp / "spool")
        print(f"sampler, 8 ranks (+1 child each), 1 s sampling, {args.seconds:g} s: {cpu:.3f} CPU s "
              f"= {100 * cpu / args.seconds:.2f}% of one core ({lines} aggregate lines written)")
        from runyard import Experiment, Workspace
        from runyard.train.dnn import PyTorch

        src = tmp / "proj"
        src.mkdir()
        (src / "loop.py").write_text(LOOP.replace("SECONDS", repr(args.loop_seconds)))
        ws = Workspace(tmp / "ws")
        rates: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(args.repeats):
            for mode in ("on", "off"):
                est = PyTorch(str(src), entry_script="loop.py",
                              environment_variables={"RUNYARD_SYSTEM_METRICS": "1" if mode == "on" else "0"})
                run = Experiment(ws, "sampler").submit(est)
                run.wait_for_completion()
                rates[mode].append(float(run.get_metrics()["steps_per_second"]))
        on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
        print(f"training loop steps/s (median of {args.repeats}): sampler on {on:.1f}, off {off:.1f} "
              f"(on/off {on / off:.3f}; runs: on {[round(r) for r in rates['on']]}, off {[round(r) for r in rates['off']]})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
