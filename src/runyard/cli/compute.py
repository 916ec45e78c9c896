"""`runyard compute list | attach-slurm | attach-ray | detach`: a workspace's compute targets."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    compute = sub.add_parser("compute", help="compute targets: list, attach-slurm, attach-ray, detach")
    compute_sub = compute.add_subparsers(dest="compute_command")
    listing = compute_sub.add_parser("list", help="the workspace's compute targets")
    listing.add_argument("--json", action="store_true", help="print JSON")
    slurm = compute_sub.add_parser("attach-slurm", help="attach a Slurm cluster (run from a submit host)")
    slurm.add_argument("name", help="the target's name, e.g. gpus")
    slurm.add_argument("--partition", help="sbatch --partition, e.g. a100")
    slurm.add_argument("--account", help="sbatch --account")
    slurm.add_argument("--qos", help="sbatch --qos")
    slurm.add_argument("--time-limit", help="sbatch --time, e.g. 02:00:00")
    slurm.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per node to ask for (default 0)")
    slurm.add_argument("--sbatch-option", action="append", help="extra sbatch option, e.g. --mem=64G (repeatable)")
    ray = compute_sub.add_parser("attach-ray", help="attach a Ray cluster (from a machine that can join it)")
    ray.add_argument("name", help="the target's name, e.g. ray1")
    ray.add_argument("--address", required=True, help="the head node's GCS address, HOST:6379")
    ray.add_argument("--cpus-per-process", type=float, default=1.0, help="CPUs each rank reserves (default 1)")
    for parser in (slurm, ray):
        parser.add_argument("--shared-folder", help="a folder every node sees: run folders and environments go there")
        parser.add_argument("--python", help="the base interpreter on the nodes (default: this one)")
    detach = compute_sub.add_parser("detach", help="forget an attached target (the cluster is left as it is)")
    detach.add_argument("name", help="the target's name")
    update = compute_sub.add_parser("update", help="what the local target hands out: GPUs, CPU slots, memory, runs")
    update.add_argument("name", choices=["local"], help="the target (local: this machine's box scheduler)")
    update.add_argument("--gpus", help="all (default), none, or the GPUs to hand out: indexes or UUIDs, e.g. 0,1")
    update.add_argument("--cpus", help="CPU slots (one core each) runs may take at once, or none for no limit")
    update.add_argument("--memory", help="memory runs may ask for in all, e.g. 64G, or none for no limit")
    update.add_argument("--max-concurrent-runs", help="runs at once, or none for no limit")
    update.add_argument("--foreign-gpus", choices=["avoid", "ignore"],
                        help="avoid (default): a GPU another program uses is not handed out; ignore: hand it out")


def cmd_compute(args: argparse.Namespace, workspace: Any) -> int:
    from runyard.compute.base import ComputeTarget

    action = getattr(args, "compute_command", None) or "list"
    if action == "attach-slurm":
        from runyard.compute.slurm import SlurmCompute

        config: Any = SlurmCompute.attach_configuration(
            partition=args.partition, account=args.account, qos=args.qos, time_limit=args.time_limit,
            gpus_per_node=args.gpus_per_node, sbatch_options=args.sbatch_option or [], shared_folder=args.shared_folder,
            python=args.python)
    elif action == "attach-ray":
        from runyard.compute.ray import RayCompute

        config = RayCompute.attach_configuration(address=args.address, shared_folder=args.shared_folder,
                                                 python=args.python, cpus_per_process=args.cpus_per_process)
    elif action == "update":
        from runyard.compute.registry import get_target

        changes = {k: v for k, v in (("gpus", args.gpus), ("cpus", args.cpus), ("memory", args.memory),
                                     ("max_concurrent_runs", args.max_concurrent_runs),
                                     ("foreign_gpus", args.foreign_gpus)) if v is not None}
        settings = get_target(workspace, "local").update(**changes)
        print(f"local: {json.dumps(settings.to_config())}")
        return 0
    elif action == "detach":
        workspace.compute_targets[args.name].detach() if args.name in workspace.compute_targets \
            else ComputeTarget(workspace, args.name)
        print(f"detached {args.name}")
        return 0
    else:
        from runyard.compute.box_report import report_lines

        targets = sorted(workspace.compute_targets.items())
        box = workspace.backend.box_report()
        if getattr(args, "json", False):
            print(json.dumps([{**(target.serialize() if hasattr(target, "serialize") else dict(target)),
                               **({"box": box} if name == "local" else {})} for name, target in targets]))
            return 0
        for name, target in targets:
            if name != "local":
                config = target.config if hasattr(target, "config") else {}
                print(f"{name}\t{target.type if hasattr(target, 'type') else target.get('type')}\t"
                      f"{json.dumps(config) if config else ''}")
        print("\n".join(report_lines(box)))
        return 0
    target = ComputeTarget.attach(workspace, args.name, config)
    print(f"attached {target.name} ({target.type}): {json.dumps(target.config)}")
    return 0
