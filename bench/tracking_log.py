"""Cost of logging one metric point, runyard side by side with the tools users know.

Amortised cost: the time of N calls plus the time until every point is on disk (close/flush/drain),
divided by N. Every logger writes into a fresh temporary folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path


def jsonl(tmp: Path, n: int) -> float:
    t0 = time.perf_counter()
    with open(tmp / "plain.jsonl", "a", buffering=1 << 16) as f:
        for i in range(n):
            f.write(json.dumps({"key": "loss", "value": 1.0 / (i + 1), "step": i, "time": time.time()}) + "\n")
    return time.perf_counter() - t0


def runyard_float(tmp: Path, n: int) -> float:
    run = runyard_context(tmp)
    t0 = time.perf_counter()
    for i in range(n):
        run.log("loss", 1.0 / (i + 1), step=i)
    run._writer.close()
    return time.perf_counter() - t0


def runyard_tensor(tmp: Path, n: int) -> float:
    import torch

    run = runyard_context(tmp)
    values = [torch.tensor(1.0 / (i + 1)) for i in range(n)]  # made before timing: a training step makes its loss
    t0 = time.perf_counter()
    for i in range(n):
        run.log("loss", values[i], step=i)
    run._writer.close()
    return time.perf_counter() - t0


def runyard_context(tmp: Path):
    """A real in-script run context (Run.get_context()) on a fresh workspace."""
    import runyard.run as run_module
    from runyard import Experiment, Workspace

    ws = Workspace(tmp / "ws")
    handle = Experiment(ws, "logbench").start_logging()
    os.environ["RUNYARD_RUN_ID"] = handle.id
    os.environ["RUNYARD_RUN_DIR"] = str(ws.runs_root / handle.id)
    run_module._context = None
    return run_module.Run.get_context()


def tensorboard(tmp: Path, n: int) -> float:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp / "tb"))
    t0 = time.perf_counter()
    for i in range(n):
        writer.add_scalar("loss", 1.0 / (i + 1), i)
    writer.close()
    return time.perf_counter() - t0


def _mlflow(tmp: Path, n: int, uri: str, synchronous: bool) -> float:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("logbench")
    with mlflow.start_run():
        mlflow.log_metric("warmup", 0.0)
        t0 = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=synchronous)
        if not synchronous:
            mlflow.flush_async_logging()
        elapsed = time.perf_counter() - t0
    return elapsed


def mlflow_sqlite(tmp: Path, n: int) -> float:
    return _mlflow(tmp, n, f"sqlite:///{tmp}/mlflow.db", True)


def mlflow_sqlite_async(tmp: Path, n: int) -> float:
    return _mlflow(tmp, n, f"sqlite:///{tmp}/mlflow-async.db", False)


def wandb_offline(tmp: Path, n: int) -> float:
    import wandb

    os.environ["WANDB_SILENT"] = "true"
    run = wandb.init(mode="offline", dir=str(tmp), project="logbench")
    t0 = time.perf_counter()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    run.finish()
    return time.perf_counter() - t0


# name -> (function, how many calls to measure at each requested size; None = as requested)
LOGGERS: dict[str, tuple[Callable[[Path, int], float], int | None]] = {
    "JSON line append (floor)": (jsonl, None),
    "runyard run.log(float)": (runyard_float, None),
    "runyard run.log(0-d tensor)": (runyard_tensor, None),
    "TensorBoard add_scalar": (tensorboard, None),
    "wandb offline": (wandb_offline, 10_000),
    "mlflow sqlite (sync)": (mlflow_sqlite, 1_000),
    "mlflow sqlite (async)": (mlflow_sqlite_async, 1_000),
}
