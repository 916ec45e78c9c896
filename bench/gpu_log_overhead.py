"""What logging every step costs a launch-bound training loop: run.log(loss tensor) vs loss.item().

    .venv/bin/python bench/gpu_log_overhead.py [--steps 3000] [--repeats 5] [--device cuda|cpu]

Uses the GPU when there is one (run it on the device machine), else the CPU. Small layers keep the
loop launch-bound, where a host sync per step (loss.item()) hurts most. Reports steps/s medians and
each variant's ratio to the loop that logs nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracking_log import runyard_context as make_context  # noqa: E402


def loop(device: torch.device, steps: int, variant: str, run) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(64, 64) for _ in range(6)]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(32, 64, device=device)
    sink = 0.0
    for _ in range(50):  # warm-up
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        if variant == "run.log(loss)":
            run.log("loss", loss, step=step)
        elif variant == "loss.item()":
            sink += loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    variants = ["no logging", "run.log(loss)", "loss.item()"]
    rates: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for v in variants:  # interleaved, so drift hits every variant alike
                run = make_context(Path(tmp) / f"{v}-{len(rates[v])}".replace(" ", "_").replace("(", "").replace(")", ""))
                rates[v].append(loop(device, args.steps, v, run))
                run._writer.close()
    base = statistics.median(rates["no logging"])
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device: {name}; {args.steps} steps x {args.repeats} repeats; torch {torch.__version__}")
    print(f"{'variant':16} {'steps/s':>10} {'vs no logging':>14}")
    for v in variants:
        med = statistics.median(rates[v])
        print(f"{v:16} {med:10.1f} {med / base - 1:+13.2%}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
