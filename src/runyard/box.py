"""The box scheduler's contracts (capacity, requests, grants) and its decision, as a pure function: what a machine has, what runs hold, who waits, who starts.

Order: priority (higher first), then owners take turns, then submission time. A request's turn is fixed when
it is queued: how many runs its owner already held or had queued on the box then. So one user's 50 sweep
trials take turns 0..49, and another user's single run, queued later, takes turn 0 and goes second. The head of the queue starts when it fits. A
request behind it may start ahead only on what the head does not need: the head reserves the free GPUs, CPU
slots and memory it is waiting to complete, so a smaller run never delays it. Every request that waits gets
a reason that names what it waits for and who holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class GpuDevice:
    """One device a rank can be given: a whole GPU, or a MIG slice of one."""

    index: str          # '0', or '0:1' for MIG slice 1 of GPU 0 (as nvidia-smi numbers them)
    uuid: str           # GPU-... or MIG-...: what a rank's CUDA_VISIBLE_DEVICES names
    name: str
    parent_uuid: str = ""  # a MIG slice's GPU

    @property
    def label(self) -> str:
        return f"GPU {self.index}"


class ForeignGpuPolicy(str, Enum):
    AVOID = "avoid"    # a GPU some process runyard did not start is using is not handed out
    IGNORE = "ignore"  # hand it out anyway (the other process shares it)


@dataclass(frozen=True)
class Capacity:
    """What the local target may hand out on this host. None: not limited (not accounted)."""

    gpus: tuple[GpuDevice, ...] = ()
    cpus: int | None = None
    cores: tuple[int, ...] = ()          # the cores CPU slots map to (slot i -> cores[i])
    memory_mb: int | None = None
    max_concurrent_runs: int | None = None
    foreign_gpus: ForeignGpuPolicy = ForeignGpuPolicy.AVOID


@dataclass(frozen=True)
class Request:
    """What one run asks of the box (all at once or nothing)."""

    run_id: str
    owner: str
    priority: int
    submitted: float
    gpus: int = 0
    cpus: int = 0          # CPU slots (accounted only when the capacity limits CPUs)
    memory_mb: int = 0     # accounted only when the capacity limits memory
    turn: int = 0          # its owner's runs held or queued on the box when it was queued (fair_turn)


@dataclass(frozen=True)
class Grant:
    """What a run holds: devices by UUID, CPU slots (their core numbers), memory."""

    run_id: str
    owner: str
    gpus: tuple[str, ...] = ()
    cores: tuple[int, ...] = ()
    memory_mb: int = 0


@dataclass
class Decision:
    grants: list[Grant] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)   # run id -> why it waits
    order: list[str] = field(default_factory=list)           # the queue, in the order it is served


def fair_turn(owner: str, queue: list[Request], held: list[Grant]) -> int:
    """The turn a request of `owner` queued now takes: the owner's runs already on the box, held or queued."""
    return sum(1 for g in held if g.owner == owner) + sum(1 for r in queue if r.owner == owner)


def queue_order(queue: list[Request]) -> list[Request]:
    """Priority first; between equal priorities owners take turns; then submission time."""
    return sorted(queue, key=lambda r: (-r.priority, r.turn, r.submitted, r.run_id))


@dataclass
class _Free:
    gpus: list[GpuDevice]
    slots: list[int]          # free slot numbers
    memory: int | None        # free MB, None when not limited
    runs: int | None          # free run slots, None when not limited


def plan(capacity: Capacity, held: list[Grant], queue: list[Request],
         gpu_users: dict[str, list[int]] | None = None) -> Decision:
    """Which queued requests start now, and why each of the others waits."""
    gpu_users = gpu_users or {}
    held_gpus = {u: g for g in held for u in g.gpus}
    foreign = {u: pids for u, pids in gpu_users.items() if u not in held_gpus} \
        if capacity.foreign_gpus is ForeignGpuPolicy.AVOID else {}
    used_slots = {c for g in held for c in g.cores}
    slot_of_core = {core: i for i, core in enumerate(capacity.cores)}
    used_slot_numbers = {slot_of_core[c] for c in used_slots if c in slot_of_core}
    free = _Free(
        gpus=[d for d in capacity.gpus if d.uuid not in held_gpus and d.uuid not in foreign],
        slots=[i for i in range(capacity.cpus or 0) if i not in used_slot_numbers],
        memory=None if capacity.memory_mb is None else capacity.memory_mb - sum(g.memory_mb for g in held),
        runs=None if capacity.max_concurrent_runs is None else capacity.max_concurrent_runs - len(held))
    decision = Decision()
    ordered = queue_order(queue)
    decision.order = [r.run_id for r in ordered]
    head: Request | None = None
    holders = list(held)
    for request in ordered:
        short = _shortage(capacity, free, request)
        if not short:
            grant = _take(capacity, free, request)
            decision.grants.append(grant)
            holders.append(grant)
            continue
        if head is None:
            head = request
            decision.reasons[request.run_id] = _why(capacity, free, request, short, holders, foreign)
            _reserve(free, request)  # what the head waits to complete is not given to anyone behind it
        else:
            decision.reasons[request.run_id] = _why(capacity, free, request, short, holders, foreign) + \
                f"; behind run {head.run_id} ({head.owner}), first in the queue"
    return decision


def _shortage(capacity: Capacity, free: _Free, r: Request) -> list[str]:
    short = []
    if free.runs is not None and free.runs < 1:
        short.append("runs")
    if r.gpus > len(free.gpus):
        short.append("gpus")
    if capacity.cpus is not None and r.cpus > len(free.slots):
        short.append("cpus")
    if free.memory is not None and r.memory_mb > free.memory:
        short.append("memory")
    return short


def _take(capacity: Capacity, free: _Free, r: Request) -> Grant:
    gpus = [free.gpus.pop(0).uuid for _ in range(r.gpus)]
    slots = [free.slots.pop(0) for _ in range(r.cpus)] if capacity.cpus is not None else []
    cores = [capacity.cores[s % len(capacity.cores)] for s in slots] if capacity.cores else slots
    if free.memory is not None:
        free.memory -= r.memory_mb
    if free.runs is not None:
        free.runs -= 1
    return Grant(r.run_id, r.owner, tuple(gpus), tuple(cores), r.memory_mb if capacity.memory_mb is not None else 0)


def _reserve(free: _Free, r: Request) -> None:
    del free.gpus[:r.gpus]
    del free.slots[:r.cpus]
    if free.memory is not None:
        free.memory = max(0, free.memory - r.memory_mb)
    if free.runs is not None:
        free.runs = max(0, free.runs - 1)  # the next run slot freed goes to the head first


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _why(capacity: Capacity, free: _Free, r: Request, short: list[str], holders: list[Grant],
         foreign: dict[str, list[int]]) -> str:
    parts = []
    if "gpus" in short:
        by_device = {u: g for g in holders for u in g.gpus}
        labels: dict[str, list[str]] = {}  # a holder's GPUs together, holders in the order of their first GPU
        for d in capacity.gpus:
            if d.uuid in by_device:
                labels.setdefault(by_device[d.uuid].run_id, []).append(d.label)
        owners = {g.run_id: g.owner for g in holders}
        held = [f"{', '.join(names)} held by run {run_id} ({owners[run_id]})" for run_id, names in labels.items()]
        outside = [f"{d.label} used by a process runyard did not start (pid {', '.join(map(str, foreign[d.uuid]))}; "
                   "runyard compute update local --foreign-gpus ignore hands it out anyway)"
                   for d in capacity.gpus if d.uuid in foreign]
        parts.append(f"waiting for {_plural(r.gpus, 'GPU')}" + (f"; {'; '.join(held + outside)}" if held or outside
                                                                  else ""))
    if "cpus" in short:
        slot_holders = [g for g in holders if g.cores]
        parts.append(f"waiting for {_plural(r.cpus, 'CPU slot')} (limit {capacity.cpus}: runs "
                     + ", ".join(f"{g.run_id} ({g.owner})" for g in slot_holders) + ")")
    if "memory" in short:
        memory_holders = [g for g in holders if g.memory_mb]
        parts.append(f"waiting for {r.memory_mb} MB of memory (limit {capacity.memory_mb} MB: runs "
                     + ", ".join(f"{g.run_id} ({g.owner}) {g.memory_mb} MB" for g in memory_holders) + ")")
    if "runs" in short:
        parts.append(f"waiting for a run slot (max {capacity.max_concurrent_runs} concurrent runs: "
                     + ", ".join(f"{g.run_id} ({g.owner})" for g in holders) + ")")
    return "; ".join(parts)
