"""The GPU probe against an NVML that behaves like a real driver's: fields a device does not support, MIG slices,
per-process memory and utilisation. (CI has no GPU; the probe's own logic is what is checked here.)"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runyard.launch.system_probes import MB, GpuProbe


class NVMLError_NotSupported(Exception):  # noqa: N801 - pynvml's own class names
    pass


class NVMLError_NotFound(Exception):  # noqa: N801
    pass


class FakeNvml:
    """Two GPUs: GPU 0 whole (no power reading), GPU 1 in MIG mode with slices in slots 0 and 2."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.gpus = {0: "GPU-aaaa", 1: "GPU-bbbb"}
        self.migs = {(1, 0): "MIG-1111", (1, 2): "MIG-2222"}
        self.processes = {"GPU-aaaa": [SimpleNamespace(pid=101, usedGpuMemory=512 * MB),
                                       SimpleNamespace(pid=102, usedGpuMemory=256 * MB),
                                       SimpleNamespace(pid=999, usedGpuMemory=1024 * MB)]}
        self.samples = {"GPU-aaaa": [SimpleNamespace(pid=101, timeStamp=10, smUtil=60),
                                     SimpleNamespace(pid=102, timeStamp=10, smUtil=20),
                                     SimpleNamespace(pid=101, timeStamp=20, smUtil=40),
                                     SimpleNamespace(pid=999, timeStamp=20, smUtil=30)]}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> str:
        return self.gpus[i]

    def nvmlDeviceGetUUID(self, handle: str) -> bytes:
        return handle.encode()  # older pynvml gives bytes

    def nvmlDeviceGetMigMode(self, handle: str) -> list[int]:
        if handle == "GPU-aaaa":
            raise NVMLError_NotSupported()
        return [1, 1]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: str) -> int:
        return 3

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: str, j: int) -> str:
        index = next(i for i, u in self.gpus.items() if u == handle)
        if (index, j) not in self.migs:
            raise NVMLError_NotFound()
        return self.migs[(index, j)]

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        if handle.startswith("MIG-"):
            raise NVMLError_NotSupported()  # as on real MIG slices
        return SimpleNamespace(gpu=75)

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(used=2048 * MB, total=8192 * MB)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        self._count(f"power {handle}")
        if handle == "GPU-aaaa":
            raise NVMLError_NotSupported()
        return 250_000

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:
        return 61

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:
        return 1410

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: str) -> int:
        return 0

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[SimpleNamespace]:
        return self.processes.get(handle, [])

    def nvmlDeviceGetProcessUtilization(self, handle: str, since: int) -> list[SimpleNamespace]:
        self._count(f"utilization {handle}")
        fresh = [s for s in self.samples.get(handle, []) if s.timeStamp > since]
        if not fresh:
            raise NVMLError_NotFound()
        return fresh


def test_every_gpu_and_mig_slice_is_a_device_and_one_unsupported_field_leaves_the_others():
    nvml = FakeNvml()
    probe = GpuProbe(nvml=nvml)
    assert probe.uuids == {"0": "GPU-aaaa", "1": "GPU-bbbb", "1_mig_0": "MIG-1111", "1_mig_2": "MIG-2222"}
    first = probe.read({})
    assert first["system/gpu_0_utilization_percentage"] == 75
    assert first["system/gpu_0_memory_usage_percentage"] == 25
    assert "system/gpu_0_power_usage_watts" not in first and first["system/gpu_1_power_usage_watts"] == 250
    assert first["system/gpu_1_mig_0_memory_usage_megabytes"] == 2048
    assert "system/gpu_1_mig_0_utilization_percentage" not in first  # unsupported on a slice; its memory stays
    probe.read({})
    assert nvml.calls["power GPU-aaaa"] == 1 and nvml.calls["power GPU-bbbb"] == 2  # probed once, then left out


def test_each_rank_gets_its_own_gpu_memory_and_utilisation_from_the_per_process_queries():
    nvml = FakeNvml()
    probe = GpuProbe(nvml=nvml)
    values = probe.read({0: [101], 1: [102]})  # pid 999 is someone else's: counted for no rank
    assert values["system/rank_0_gpu_0_memory_usage_megabytes"] == 512
    assert values["system/rank_1_gpu_0_memory_usage_megabytes"] == 256
    assert values["system/rank_0_gpu_0_utilization_percentage"] == pytest.approx((60 + 40) / 2)
    assert values["system/rank_1_gpu_0_utilization_percentage"] == 20
    again = probe.read({0: [101], 1: [102]})  # no sample since the last look: NVML's NotFound, not unsupported
    assert "system/rank_0_gpu_0_utilization_percentage" not in again
    nvml.samples["GPU-aaaa"].append(SimpleNamespace(pid=102, timeStamp=30, smUtil=90))
    assert probe.read({0: [101], 1: [102]})["system/rank_1_gpu_0_utilization_percentage"] == 90


def test_a_node_given_a_mig_slice_samples_that_slice_only():
    probe = GpuProbe(["MIG-2222"], nvml=FakeNvml())
    assert probe.uuids == {"1_mig_2": "MIG-2222"}
    assert set(probe.read({})) == {f"system/gpu_1_mig_2_{f}" for f in (
        "memory_usage_megabytes", "memory_usage_percentage", "power_usage_watts", "temperature_celsius",
        "sm_clock_megahertz", "throttle_reasons")}


def test_without_nvml_there_are_no_gpu_metrics_and_nothing_fails():
    class Broken(FakeNvml):
        def nvmlInit(self) -> None:
            raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    probe = GpuProbe(nvml=Broken())
    assert probe.devices == [] and probe.read({0: [1]}) == {}
