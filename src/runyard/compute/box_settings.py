"""What the user set for this box (`runyard compute update local ...`), kept in the workspace config.

Defaults: every GPU the machine shows, each exclusive; CPU, memory and concurrent runs not limited, so a
CPU laptop keeps starting runs at once. A limit the user sets is enforced by the queue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from runyard.box import Capacity, ForeignGpuPolicy, GpuDevice
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.spec import memory_mb

ALL, NONE = "all", "none"


def machine_cores() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else \
        tuple(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class BoxSettings:
    gpus: str | tuple[str, ...] = ALL       # 'all', 'none', or the devices (indexes or UUIDs) to hand out
    cpus: int | None = None                 # CPU slots (one core each)
    memory_mb: int | None = None
    max_concurrent_runs: int | None = None
    foreign_gpus: ForeignGpuPolicy = ForeignGpuPolicy.AVOID

    @property
    def gpus_shown(self) -> str:
        return self.gpus if isinstance(self.gpus, str) else ",".join(self.gpus)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BoxSettings:
        gpus = config.get("gpus", ALL)
        return cls(gpus=tuple(gpus) if isinstance(gpus, list) else str(gpus), cpus=config.get("cpus"),
                   memory_mb=config.get("memory_mb"), max_concurrent_runs=config.get("max_concurrent_runs"),
                   foreign_gpus=ForeignGpuPolicy(config.get("foreign_gpus", ForeignGpuPolicy.AVOID.value)))

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"gpus": self.gpus if isinstance(self.gpus, str) else list(self.gpus),
                                  "foreign_gpus": self.foreign_gpus.value}
        for key in ("cpus", "memory_mb", "max_concurrent_runs"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    def changed(self, *, gpus: Any = ..., cpus: Any = ..., memory: Any = ..., max_concurrent_runs: Any = ...,
                foreign_gpus: Any = ...) -> BoxSettings:
        """These settings with the given ones changed (`...`: unchanged; None or 'none': no limit)."""
        new = self
        if gpus is not ...:
            new = replace(new, gpus=_gpus(gpus))
        if cpus is not ...:
            new = replace(new, cpus=_limit("cpus", cpus, "--cpus 8"))
            cores = len(machine_cores())
            if new.cpus is not None and new.cpus > cores:
                raise InvalidValueError("cpus", new.cpus, f"is more CPU slots than the {cores} cores this process may "
                                        "use (one core per slot)", f"pass --cpus {cores} or fewer, or none")
        if memory is not ...:
            new = replace(new, memory_mb=None if memory is None or str(memory).lower() == NONE else
                          memory_mb(memory, "memory"))
        if max_concurrent_runs is not ...:
            new = replace(new, max_concurrent_runs=_limit("max_concurrent_runs", max_concurrent_runs,
                                                          "--max-concurrent-runs 4"))
        if foreign_gpus is not ...:
            try:
                new = replace(new, foreign_gpus=ForeignGpuPolicy(foreign_gpus))
            except ValueError:
                raise InvalidValueError("foreign_gpus", foreign_gpus, "is not a policy",
                                        "pass 'avoid' (default: a GPU another program uses is not handed out) or "
                                        "'ignore'") from None
        return new

    def capacity(self, discovered: list[GpuDevice] | None = None) -> Capacity:
        """What these settings hand out of the devices found (discovered now when not given)."""
        from runyard.compute.gpus import discover, visible

        found = [] if self.gpus == NONE else discover() if discovered is None else list(discovered)
        if isinstance(self.gpus, tuple):
            chosen = visible(found, ",".join(self.gpus))
            missing = [g for g in self.gpus if not visible(found, g)]
            if missing:
                raise InvalidValueError("gpus", ",".join(self.gpus), f"names {', '.join(missing)}, which this machine "
                                        f"does not show (it has {', '.join(d.label + ' ' + d.uuid for d in found) or 'none'})",
                                        "pass indexes or UUIDs from `nvidia-smi -L`, all, or none")
            found = chosen
        return Capacity(gpus=tuple(found), cpus=self.cpus, cores=machine_cores() if self.cpus else (),
                        memory_mb=self.memory_mb, max_concurrent_runs=self.max_concurrent_runs,
                        foreign_gpus=self.foreign_gpus)


def _gpus(value: Any) -> str | tuple[str, ...]:
    fix = "pass all, none, or a comma-separated list of GPU indexes or UUIDs, e.g. 0,1"
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    elif isinstance(value, str):
        if value.strip().lower() in (ALL, NONE):
            return value.strip().lower()
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [str(value)]
    else:
        raise InvalidTypeError("gpus", value, "is not a GPU list", fix)
    if not items or any(not i for i in items):
        raise InvalidValueError("gpus", value, "has an empty entry", fix)
    return tuple(items)


def _limit(name: str, value: Any, example: str) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == NONE):
        return None
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 1 or (isinstance(value, float) and value != number):
        raise InvalidValueError(name, value, "must be a whole number of at least 1, or none for no limit",
                                f"pass e.g. {example}, or none")
    return number
