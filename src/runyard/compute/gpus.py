"""The GPUs this machine shows, by UUID, and the processes using them; never imports torch.

NVML (nvidia-ml-py) is asked first; where it is missing or cannot load the driver's library, `nvidia-smi`
is. Both list MIG slices as devices of their own (their MIG-... UUID is what CUDA_VISIBLE_DEVICES takes).
An inherited CUDA_VISIBLE_DEVICES (indexes or UUIDs) limits what runyard may hand out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping

from runyard.box import GpuDevice

SMI_TIMEOUT_SECONDS = 20
_GPU_LINE = re.compile(r"^GPU (?P<index>\d+): (?P<name>.*?) \(UUID: (?P<uuid>[^)]+)\)")
_MIG_LINE = re.compile(r"^\s+MIG (?P<name>.*?)\s+Device\s+(?P<index>\d+): \(UUID: (?P<uuid>[^)]+)\)")


def _from_nvml() -> list[GpuDevice] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver library, no device: ask nvidia-smi instead
        return None
    try:
        found: list[GpuDevice] = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid, name = _text(pynvml.nvmlDeviceGetUUID(handle)), _text(pynvml.nvmlDeviceGetName(handle))
            slices = _nvml_mig_slices(pynvml, handle, i, uuid)
            found += slices or [GpuDevice(str(i), uuid, name)]
        return found
    except Exception:  # noqa: BLE001 - a driver that answers oddly: nvidia-smi may still know
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _nvml_mig_slices(pynvml: object, handle: object, index: int, uuid: str) -> list[GpuDevice]:
    nv = pynvml
    try:
        current, _ = nv.nvmlDeviceGetMigMode(handle)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not a MIG-capable GPU
        return []
    if not current:
        return []
    slices = []
    for j in range(nv.nvmlDeviceGetMaxMigDeviceCount(handle)):  # type: ignore[attr-defined]
        try:
            mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - an empty slot
            continue
        slices.append(GpuDevice(f"{index}:{j}", _text(nv.nvmlDeviceGetUUID(mig)),  # type: ignore[attr-defined]
                                _text(nv.nvmlDeviceGetName(mig)), parent_uuid=uuid))  # type: ignore[attr-defined]
    return slices


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_smi() -> list[GpuDevice]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=SMI_TIMEOUT_SECONDS).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found: list[GpuDevice] = []
    gpus: list[GpuDevice] = []
    slices: dict[str, list[GpuDevice]] = {}
    for line in out.splitlines():
        if m := _GPU_LINE.match(line):
            gpus.append(GpuDevice(m["index"], m["uuid"].strip(), m["name"].strip()))
        elif (m := _MIG_LINE.match(line)) and gpus:
            parent = gpus[-1]
            slices.setdefault(parent.uuid, []).append(
                GpuDevice(f"{parent.index}:{m['index']}", m["uuid"].strip(), f"{parent.name} MIG {m['name']}",
                          parent_uuid=parent.uuid))
    for gpu in gpus:
        found += slices.get(gpu.uuid) or [gpu]
    return found


def visible(devices: list[GpuDevice], cuda_visible_devices: str | None) -> list[GpuDevice]:
    """The devices an inherited CUDA_VISIBLE_DEVICES leaves (indexes, GPU-/MIG- UUIDs or their prefixes)."""
    if cuda_visible_devices is None:
        return devices
    wanted = [w.strip() for w in cuda_visible_devices.split(",") if w.strip()]
    if not wanted or wanted[0] == "-1":
        return []
    kept: list[GpuDevice] = []
    for w in wanted:
        for d in devices:
            index_match = w.isdigit() and (d.index == w or d.index.startswith(w + ":"))
            uuid_match = not w.isdigit() and (d.uuid.startswith(w) or (d.parent_uuid and d.parent_uuid.startswith(w)))
            if (index_match or uuid_match) and d not in kept:
                kept.append(d)
    return kept


def discover(environ: Mapping[str, str] | None = None) -> list[GpuDevice]:
    """Every device this process may hand out: NVML's (or nvidia-smi's) list, within CUDA_VISIBLE_DEVICES."""
    environ = os.environ if environ is None else environ
    devices = _from_nvml()
    if devices is None:
        devices = _from_smi()
    return visible(devices, environ.get("CUDA_VISIBLE_DEVICES"))


def processes() -> dict[str, list[int]]:
    """Device UUID -> pids of the compute processes on it (NVML, else nvidia-smi); {} when neither answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML here
        return _processes_from_smi()
    try:
        found: dict[str, list[int]] = {}
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
            found[uuid] = [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)]
        return found
    except Exception:  # noqa: BLE001
        return _processes_from_smi()
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _processes_from_smi() -> dict[str, list[int]]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {}
    try:
        out = subprocess.run([smi, "--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=SMI_TIMEOUT_SECONDS).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[str, list[int]] = {}
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].isdigit():
            found.setdefault(parts[0], []).append(int(parts[1]))
    return found


def foreign_users(devices: list[GpuDevice]) -> dict[str, list[int]]:
    """Device UUID -> pids using it (a MIG slice counts its GPU's processes, which NVML reports per GPU)."""
    by_uuid = processes()
    return {d.uuid: pids for d in devices if (pids := by_uuid.get(d.uuid) or by_uuid.get(d.parent_uuid) or [])}
