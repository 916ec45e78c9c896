"""`runyard priority RUN N`, `submit --gpus N`, and how a run's share of the box reads in `runyard show`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, make: Any) -> None:
    pr = make(sub, "priority", "move a queued run in the box's queue (higher starts first)")
    pr.add_argument("run", help="run id (or a unique prefix)")
    pr.add_argument("priority", type=int, help="the new priority, e.g. 10 (every run's default: 0)")


def gpu_layout(args: argparse.Namespace) -> tuple[int, bool]:
    """--gpus N: N processes per node, each with a whole GPU of its own (as torchrun --nproc-per-node)."""
    from runyard.errors import InvalidValueError

    if args.gpus is None:
        return args.procs_per_node, args.gpu
    if args.gpus < 1:
        raise InvalidValueError("--gpus", args.gpus, "must be at least 1 (each process gets a whole GPU)",
                                "pass --gpus 1 or more, or leave it out to train on the CPU")
    if args.procs_per_node not in (1, args.gpus):
        raise InvalidValueError("--gpus", args.gpus, f"gives one process per GPU, but --procs-per-node "
                                f"{args.procs_per_node} differs", f"pass only --gpus {args.gpus}")
    if args.gpus > 1 and args.backend is None:
        raise InvalidValueError("--gpus", args.gpus, "starts several processes, which need a distributed backend",
                                "add --backend nccl (or gloo)")
    return args.gpus, True


def cmd_priority(args: argparse.Namespace, run: Any) -> int:
    run.set_priority(args.priority)
    print(f"{run.id}: priority {args.priority}")
    return 0


def allocation_text(a: dict[str, Any]) -> str:
    """What the box granted a run, e.g. 'GPU 1 GPU-5d..; cores 2,3; 4096 MB on host (queued 3.2 s)'."""
    parts = [", ".join(f"GPU {g['index']} {g['uuid']}" for g in a.get("gpus", [])) or "no GPU"]
    if a.get("cores"):
        parts.append(f"cores {','.join(map(str, a['cores']))}")
    if a.get("memoryMb"):
        parts.append(f"{a['memoryMb']} MB")
    return f"{'; '.join(parts)} on {a.get('host', '?')} (queued {a.get('queuedSeconds', 0):.1f} s)"
