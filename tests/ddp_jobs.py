"""examples/ddp submitted under a layout, and what its ranks report: shared by the local, Slurm and Ray tests."""

from __future__ import annotations

import json
from typing import Any

from runyard import Experiment
from runyard.train.dnn import PyTorch
from tests.conftest import ROOT

DDP = ROOT / "examples" / "ddp"
# torch 2.13's gloo sometimes aborts a process that exits with a live process group (SIGABRT,
# "terminate called without an active exception") instead of exiting 1: either way the rank is named
FAILED_RANK = r"rank {rank} (exited with code 1|was killed by SIGABRT)\n"


def submit_ddp(workspace: Any, nodes: int, ppn: int, *, compute_target: Any = None, backend: str = "gloo",
               experiment: str = "ddp", steps: int = 8, **params: Any) -> Any:
    est = PyTorch(str(DDP), entry_script="train.py", compute_target=compute_target, node_count=nodes,
                  process_count_per_node=ppn, distributed_backend=backend,
                  script_params={"--steps": steps, **{f"--{k}": v for k, v in params.items()}})
    return Experiment(workspace, experiment).submit(est)


def rank_reports(run: Any, world: int) -> list[dict[str, Any]]:
    """Each rank's outputs/rank_<r>.json (final parameters, node and local rank)."""
    reports = [json.loads(run.folder.file_path(f"outputs/rank_{r}.json").read_text()) for r in range(world)]
    assert [r["rank"] for r in reports] == list(range(world))
    return reports
