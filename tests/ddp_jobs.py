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


# DDP that checkpoints every 10 steps to the run's checkpoint folder and resumes from it (a restart, a requeue);
# rank 0 writes its final parameters' bytes to outputs/final.bin
RESUMABLE = """
import os, sys, time
import torch, torch.distributed as dist
from runyard import Run
run = Run.get_context()
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
ddp = torch.nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
# the run's checkpoint folder, or (--cwd-snapshot) the ddp-tutorial-series' own convention: snapshot.pt here
snapshot = "snapshot.pt" if "--cwd-snapshot" in sys.argv else os.path.join(run.get_checkpoint_dir(), "snapshot.pt")
start = 0
if os.path.exists(snapshot):
    state = torch.load(snapshot)
    model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); start = state["step"]
    print("resumed at", start, flush=True)
for step in range(start, 100):
    g = torch.Generator().manual_seed(step * 100 + rank)
    x = torch.randn(16, 4, generator=g)
    loss = ((ddp(x) - x.sum(1, keepdim=True)) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    run.log("loss", loss.item(), step=step)
    if rank == 0 and (step + 1) % 10 == 0:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1}, snapshot + ".tmp")
        os.replace(snapshot + ".tmp", snapshot)
    time.sleep(0.03)
if rank == 0:
    os.makedirs("outputs", exist_ok=True)
    open("outputs/final.bin", "wb").write(b"".join(p.detach().numpy().tobytes() for p in model.parameters()))
dist.destroy_process_group()
"""


def resumable_pair(workspace: Any, project: Any, experiment: str, target: Any) -> tuple[Any, Any]:
    """(an uninterrupted 2x1 gloo run of RESUMABLE on this machine, the same job on `target`), the latter
    followed until it has logged 35 points, so a test can interrupt it mid-way."""
    import time

    src = project("train.py", RESUMABLE)
    job = dict(entry_script="train.py", node_count=2, process_count_per_node=1, distributed_backend="gloo")
    plain = Experiment(workspace, experiment).submit(PyTorch(str(src), **job))
    run = Experiment(workspace, experiment).submit(PyTorch(str(src), compute_target=target, **job))
    deadline = time.time() + 120
    while time.time() < deadline and len(run.get_metrics().get("loss", [])) < 35:
        time.sleep(0.3)
    return plain, run


def same_final_bits(plain: Any, run: Any, folder: Any) -> bool:
    """Whether both runs ended with the same parameters, byte for byte (RESUMABLE's outputs/final.bin)."""
    plain.wait_for_completion(raise_on_error=True)
    found = []
    for r in (plain, run):
        r.download_file("outputs/final.bin", str(folder / f"{r.id}.bin"))
        found.append((folder / f"{r.id}.bin").read_bytes())
    return found[0] == found[1]


def killed_agent_run(workspace: Any, project: Any, target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A 2x1 RESUMABLE job on a cluster target with node 1's agent killed at step 20: (its details, the fault
    record), after it ended."""
    src = project("train.py", RESUMABLE)
    run = Experiment(workspace, "agent").submit(PyTorch(
        str(src), entry_script="train.py", node_count=2, process_count_per_node=1, distributed_backend="gloo",
        compute_target=target, fault="kill-agent:1@step=20"))
    details = run.wait_for_completion(raise_on_error=False)
    fault = json.loads(run.get_properties()["runyard.fault"])
    assert fault["injected"] and fault["step"] >= 20 and len(fault["pids"]) == 1
    return details, fault
