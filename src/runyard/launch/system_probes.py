"""What the system sampler reads, once per sample: the node (psutil), the run's process tree on it, its GPUs (NVML).

Names are MLflow's `system/...` names. Each GPU field is probed once per device: a field NVML does not support
there is left out from then on, and the others go on (one unsupported field never drops a GPU's metrics).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import psutil

MB = 1024 * 1024


class NodeProbe:
    """The machine: CPU, memory, the disk holding the run's folder, network since the sampler started."""

    def __init__(self, disk_path: str) -> None:
        self.disk_path = disk_path
        self._net0 = _net()
        psutil.cpu_percent(None)  # the first call only starts the interval

    def read(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        values = {"system/cpu_utilization_percentage": psutil.cpu_percent(None),
                  "system/system_memory_usage_megabytes": (memory.total - memory.available) / MB,
                  "system/system_memory_usage_percentage": memory.percent}
        try:
            disk = psutil.disk_usage(self.disk_path)
            values.update({"system/disk_usage_megabytes": disk.used / MB, "system/disk_usage_percentage": disk.percent,
                           "system/disk_available_megabytes": disk.free / MB})
        except OSError:
            pass
        net = _net()
        if net is not None and self._net0 is not None:
            values["system/network_receive_megabytes"] = (net.bytes_recv - self._net0.bytes_recv) / MB
            values["system/network_transmit_megabytes"] = (net.bytes_sent - self._net0.bytes_sent) / MB
        return values


def _net() -> Any:
    try:
        return psutil.net_io_counters()
    except (OSError, RuntimeError):
        return None


class JobProbe:
    """The run's processes on this node: each rank and everything it started (DataLoader workers included)."""

    def __init__(self, ranks: Callable[[], dict[int, int]]) -> None:
        self.ranks = ranks                      # rank -> pid, as the agent started them
        self._procs: dict[int, psutil.Process] = {}

    def _proc(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)  # starts its interval; the next read is the share since now
            except psutil.Error:
                return None
        return proc

    def tree(self, pid: int) -> list[psutil.Process]:
        root = self._proc(pid)
        if root is None:
            return []
        return [root] + [p for c in _descendants(root) if (p := self._proc(c)) is not None]

    def read(self) -> tuple[dict[str, float], dict[int, list[int]]]:
        """The job's values, and each rank's pids (for the GPU probe's per-process queries)."""
        values: dict[str, float] = {}
        total_cpu = total_rss = 0.0
        pids_of: dict[int, list[int]] = {}
        seen: set[int] = set()
        for rank, pid in sorted(self.ranks().items()):
            cpu = rss = 0.0
            for proc in self.tree(pid):
                seen.add(proc.pid)
                try:
                    with proc.oneshot():  # one read of /proc/<pid>/stat for both
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss / MB
                except psutil.Error:
                    continue
                pids_of.setdefault(rank, []).append(proc.pid)
            values[f"system/rank_{rank}_cpu_utilization_percentage"] = cpu
            values[f"system/rank_{rank}_memory_rss_megabytes"] = rss
            total_cpu, total_rss = total_cpu + cpu, total_rss + rss
        for pid in [p for p in self._procs if p not in seen]:  # gone: forget them
            del self._procs[pid]
        values["system/job_cpu_utilization_percentage"] = total_cpu
        values["system/job_memory_rss_megabytes"] = total_rss
        return values, pids_of


def _descendants(root: psutil.Process) -> list[int]:
    """Every process below `root`. Linux lists each thread's children in /proc (a few small reads); psutil's
    children() scans every process of the machine instead, which is what it falls back to elsewhere."""
    found, todo = [], [root.pid]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            if pid == root.pid:  # no /proc here (macOS): ask psutil
                try:
                    return [c.pid for c in root.children(recursive=True)]
                except psutil.Error:
                    return []
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                if pid == root.pid and tid == str(pid):  # a kernel without the children file
                    try:
                        return [c.pid for c in root.children(recursive=True)]
                    except psutil.Error:
                        return []
                continue
            found += kids
            todo += kids
    return found


class GpuProbe:
    """Every GPU NVML shows, and each MIG slice of a GPU in MIG mode as a device of its own (labelled
    `<gpu>_mig_<slice>`); only the ones the node's ranks were given when it names them by UUID; nothing at all
    where NVML cannot be loaded. `nvml` is the pynvml module (given only by tests)."""

    def __init__(self, visible_uuids: Iterable[str] = (), nvml: Any = None) -> None:
        self.nvml: Any = None
        self.devices: list[tuple[str, str, Any]] = []      # (label, uuid, handle)
        self._unsupported: set[tuple[str, str]] = set()
        self._seen_at: dict[str, int] = {}                 # label -> NVML time of the last per-process sample
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
        except Exception:  # noqa: BLE001 - no NVML (no driver, no nvidia-ml-py): no GPU metrics, nothing else lost
            return
        self.nvml = nvml
        wanted = set(visible_uuids)
        try:
            for label, uuid, handle in self._all_devices():
                if not wanted or uuid in wanted:
                    self.devices.append((label, uuid, handle))
        except Exception:  # noqa: BLE001
            self.devices = []

    def _all_devices(self) -> Iterable[tuple[str, str, Any]]:
        nv = self.nvml
        for i in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(i)
            yield str(i), _text(nv.nvmlDeviceGetUUID(handle)), handle
            try:
                in_mig_mode = nv.nvmlDeviceGetMigMode(handle)[0] == 1
                slots = nv.nvmlDeviceGetMaxMigDeviceCount(handle) if in_mig_mode else 0
            except Exception:  # noqa: BLE001 - no MIG on this GPU (or this driver)
                slots = 0
            for j in range(slots):
                try:
                    mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
                except Exception:  # noqa: BLE001 - an empty slot
                    continue
                yield f"{i}_mig_{j}", _text(nv.nvmlDeviceGetUUID(mig)), mig

    @property
    def uuids(self) -> dict[str, str]:
        return {label: uuid for label, uuid, _ in self.devices}

    def _field(self, label: str, name: str, read: Callable[[], float]) -> float | None:
        if (label, name) in self._unsupported:
            return None
        try:
            return float(read())
        except Exception:  # noqa: BLE001 - NVMLError_NotSupported and kin: probed once, then left out
            self._unsupported.add((label, name))
            return None

    def read(self, pids_of_rank: dict[int, list[int]]) -> dict[str, float]:
        nv, values = self.nvml, {}
        for label, _, h in self.devices:
            fields: dict[str, Callable[[], float]] = {
                "utilization_percentage": lambda h=h: nv.nvmlDeviceGetUtilizationRates(h).gpu,
                "memory_usage_megabytes": lambda h=h: nv.nvmlDeviceGetMemoryInfo(h).used / MB,
                "memory_usage_percentage": lambda h=h: 100.0 * nv.nvmlDeviceGetMemoryInfo(h).used /
                nv.nvmlDeviceGetMemoryInfo(h).total,
                "power_usage_watts": lambda h=h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
                "temperature_celsius": lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
                "sm_clock_megahertz": lambda h=h: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
                "throttle_reasons": lambda h=h: nv.nvmlDeviceGetCurrentClocksThrottleReasons(h),
            }
            for name, read in fields.items():
                value = self._field(label, name, read)
                if value is not None:
                    values[f"system/gpu_{label}_{name}"] = value
            values.update(self._rank_memory(label, h, pids_of_rank))
            values.update(self._rank_utilization(label, h, pids_of_rank))
        return values

    def _rank_memory(self, label: str, handle: Any, pids_of_rank: dict[int, list[int]]) -> dict[str, float]:
        """Each rank's own GPU memory on this device (NVML's per-process query)."""
        if (label, "process_memory") in self._unsupported:
            return {}
        used: dict[int, float] = {}
        try:
            for p in self.nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                used[p.pid] = (p.usedGpuMemory or 0) / MB
        except Exception:  # noqa: BLE001
            self._unsupported.add((label, "process_memory"))
            return {}
        values = {}
        for rank, pids in pids_of_rank.items():
            mine = [used[p] for p in pids if p in used]
            if mine:
                values[f"system/rank_{rank}_gpu_{label}_memory_usage_megabytes"] = sum(mine)
        return values

    def _rank_utilization(self, label: str, handle: Any, pids_of_rank: dict[int, list[int]]) -> dict[str, float]:
        """Each rank's own share of this device's SMs since the last sample (NVML's per-process samples)."""
        nv = self.nvml
        if (label, "process_utilization") in self._unsupported:
            return {}
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(handle, self._seen_at.get(label, 0))
        except Exception as e:  # noqa: BLE001
            if type(e).__name__ != "NVMLError_NotFound":  # NotFound: no process ran there since the last look
                self._unsupported.add((label, "process_utilization"))
            return {}
        by_time: dict[int, dict[int, float]] = {}
        for sample in samples:
            by_time.setdefault(sample.timeStamp, {})[sample.pid] = float(sample.smUtil)
            self._seen_at[label] = max(self._seen_at.get(label, 0), int(sample.timeStamp))
        values = {}
        for rank, pids in pids_of_rank.items():
            shares = [sum(at.get(p, 0.0) for p in pids) for at in by_time.values() if any(p in at for p in pids)]
            if shares:
                values[f"system/rank_{rank}_gpu_{label}_utilization_percentage"] = sum(shares) / len(shares)
        return values

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_gpu_uuids(env: dict[str, str]) -> list[str]:
    """The GPUs a node's ranks were given (UUIDs in CUDA_VISIBLE_DEVICES), or [] for every GPU."""
    given = env.get("CUDA_VISIBLE_DEVICES") or ""
    return [g for g in given.split(",") if g.startswith(("GPU-", "MIG-"))]

