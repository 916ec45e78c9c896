"""The box as users see it: each GPU and who holds it, CPU slots and memory in use, the queue in order.

One JSON-able report, read by `runyard compute list`, `GET /api/v1/box` and the UI's Box view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runyard.compute.box_queue import host_name

if TYPE_CHECKING:
    from runyard.compute.local import LocalCompute
    from runyard.layout import WorkspaceFolder


def box_report(workspace: WorkspaceFolder, target: LocalCompute) -> dict[str, Any]:
    from runyard.compute import gpus as gpu_discovery

    host = host_name()
    capacity = target.capacity()
    state = workspace.store.box.state(host)  # type: ignore[attr-defined]
    holder_of = {u: h.grant for h in state.holding for u in h.grant.gpus}
    users = gpu_discovery.foreign_users(list(capacity.gpus)) if capacity.gpus else {}
    settings = target.settings
    return {
        "host": host,
        "settings": {"gpus": settings.gpus_shown, "cpus": settings.cpus, "memoryMb": settings.memory_mb,
                     "maxConcurrentRuns": settings.max_concurrent_runs, "foreignGpus": settings.foreign_gpus.value},
        "gpus": [{"index": d.index, "uuid": d.uuid, "name": d.name,
                  "heldBy": {"runId": holder_of[d.uuid].run_id, "owner": holder_of[d.uuid].owner}
                  if d.uuid in holder_of else None,
                  "otherProcesses": [] if d.uuid in holder_of else users.get(d.uuid, [])} for d in capacity.gpus],
        "cpus": {"limit": capacity.cpus, "used": sum(len(h.grant.cores) for h in state.holding)},
        "memoryMb": {"limit": capacity.memory_mb, "used": sum(h.grant.memory_mb for h in state.holding)},
        "running": [{"runId": h.grant.run_id, "owner": h.grant.owner, "gpus": list(h.grant.gpus),
                     "cores": list(h.grant.cores), "memoryMb": h.grant.memory_mb, "since": h.granted}
                    for h in state.holding],
        "queue": [{"runId": w.request.run_id, "owner": w.request.owner, "priority": w.request.priority,
                   "submitted": w.request.submitted, "gpus": w.request.gpus, "cpus": w.request.cpus,
                   "memoryMb": w.request.memory_mb, "reason": w.reason} for w in state.waiting],
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as the CLI prints it."""
    s = report["settings"]
    limit = (lambda v, unit="": f"{v}{unit}" if v is not None else "not limited")  # noqa: E731
    lines = [f"Box {report['host']} (compute target local): GPUs {s['gpus']}, CPU slots {limit(s['cpus'])}, "
             f"memory {limit(s['memoryMb'], ' MB')}, concurrent runs {limit(s['maxConcurrentRuns'])}"]
    for g in report["gpus"]:
        who = f"run {g['heldBy']['runId']} ({g['heldBy']['owner']})" if g["heldBy"] else \
            f"used by a process runyard did not start (pid {', '.join(map(str, g['otherProcesses']))})" \
            if g["otherProcesses"] else "free"
        lines.append(f"  GPU {g['index']}  {g['uuid']}  {who}")
    if not report["gpus"]:
        lines.append("  no GPU")
    if report["cpus"]["limit"] is not None:
        lines.append(f"  CPU slots: {report['cpus']['used']} of {report['cpus']['limit']} in use")
    if report["memoryMb"]["limit"] is not None:
        lines.append(f"  memory: {report['memoryMb']['used']} of {report['memoryMb']['limit']} MB in use")
    lines.append(f"  running: {len(report['running'])}" + "".join(
        f"\n    {r['runId']} ({r['owner']})" for r in report["running"]))
    lines.append(f"  queue: {len(report['queue'])}" + "".join(
        f"\n    {i}. {q['runId']} ({q['owner']}, priority {q['priority']}): {q['reason'] or 'deciding'}"
        for i, q in enumerate(report["queue"], 1)))
    return lines
