"""One system sampler per node, in the node agent: samples every second, writes 10-second aggregates.

Its lines go into the run's spool folder as `system-<node>.<pid>.jsonl` ([\"system\", key, [mean, min, max],
null, time, \"\"]), so they travel the same path as the ranks' metrics (ingest, or a shipper to a server) and are
stored apart from them. Whenever the node's ranks change it also writes which rank is which process and which
GPUs (by UUID) it was given, as the run property `runyard.system.node<N>`. The sampler records its own CPU time (`system/sampler_cpu_seconds`). Off with
RUNYARD_SYSTEM_METRICS=0 in the job's environment (or where runyard runs); RUNYARD_SYSTEM_METRICS_INTERVAL and
RUNYARD_SYSTEM_METRICS_WINDOW set the sampling and aggregation seconds (1 and 10).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from runyard.launch.system_probes import GpuProbe, JobProbe, NodeProbe, visible_gpu_uuids

SWITCH_ENV = "RUNYARD_SYSTEM_METRICS"
INTERVAL_ENV = "RUNYARD_SYSTEM_METRICS_INTERVAL"
WINDOW_ENV = "RUNYARD_SYSTEM_METRICS_WINDOW"
SOURCE_PREFIX = "system-"
LAYOUT_PROPERTY = "runyard.system.node{node}"
_log = logging.getLogger(__name__)


def wanted(env: Mapping[str, str]) -> bool:
    return env.get(SWITCH_ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


class SystemSampler:
    def __init__(self, spool_dir: Path, node: int, ranks: Callable[[], dict[int, int]], env: Mapping[str, str],
                 disk_path: str) -> None:
        self.node = node
        self.path = Path(spool_dir) / f"{SOURCE_PREFIX}{node}.{os.getpid()}.jsonl"
        settings = {**os.environ, **env}  # the job's variables win over where runyard runs
        self.interval = _seconds(settings, INTERVAL_ENV, 1.0)
        self.window = max(self.interval, _seconds(settings, WINDOW_ENV, 10.0))
        self.ranks, self.env, self.disk_path = ranks, env, disk_path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window: dict[str, list[float]] = {}
        self._cpu = 0.0
        self._given: dict[int, list[str]] = {}          # pid -> the GPUs its environment names
        self._layout: dict[str, Any] | None = None
        self._layout_due = False

    def start(self) -> SystemSampler:
        self._thread = threading.Thread(target=self._loop, name="runyard-system-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            node, job, gpus = NodeProbe(self.disk_path), JobProbe(self.ranks), GpuProbe(visible_gpu_uuids(
                dict(self.env)))
        except Exception as e:  # noqa: BLE001 - the sampler must never take the run down
            _log.warning("system metrics are not sampled: %s", e)
            return
        try:
            window_end = time.monotonic() + self.window
            while not self._stop.wait(self.interval):
                self._sample(node, job, gpus)
                if time.monotonic() >= window_end:
                    self._write()
                    window_end = time.monotonic() + self.window
            self._sample(node, job, gpus)
            self._write()  # the last (partial) window, before the run's last ingest
        finally:
            gpus.close()

    def _sample(self, node: NodeProbe, job: JobProbe, gpus: GpuProbe) -> None:
        started = time.thread_time()
        try:
            values = node.read()
            job_values, pids_of_rank = job.read()
            values.update(job_values)
            values.update(gpus.read(pids_of_rank))
            self._note_layout(gpus)
        except Exception as e:  # noqa: BLE001 - one bad read is skipped, the next sample goes on
            _log.debug("a system sample failed: %s", e)
            values = {}
        for key, value in values.items():
            if math.isfinite(value):
                self._window.setdefault(key, []).append(value)
        self._cpu += time.thread_time() - started

    def _note_layout(self, gpus: GpuProbe) -> None:
        """Which rank is which process, and the GPUs each was given: written again only when it changed."""
        ranks = {}
        for rank, pid in sorted(self.ranks().items()):
            if pid not in self._given:
                self._given[pid] = _gpus_given(pid)
            ranks[str(rank)] = {"pid": pid, "gpus": self._given[pid]}
        layout = {"node": self.node, "host": socket.gethostname(), "ranks": ranks, "gpus": gpus.uuids}
        if layout != self._layout:
            self._layout, self._layout_due = layout, True

    def _write(self) -> None:
        if not self._window:
            return
        now = time.time()
        self._window["system/sampler_cpu_seconds"] = [self._cpu]
        lines = [json.dumps(["system", key, [sum(v) / len(v), min(v), max(v)], None, now, ""])
                 for key, v in sorted(self._window.items())]
        if self._layout_due:
            lines.append(json.dumps(["property", LAYOUT_PROPERTY.format(node=self.node), json.dumps(self._layout),
                                     None, now, ""]))
            self._layout_due = False
        self._window = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        except OSError as e:
            _log.warning("system metrics could not be written to %s: %s", self.path, e)

    def stop(self, timeout: float = 10.0) -> None:
        """Sample once more, write the last window, and end (before the run's final ingest)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _gpus_given(pid: int) -> list[str]:
    """The GPUs a rank's environment names (CUDA_VISIBLE_DEVICES: UUIDs from runyard's box, or indices)."""
    try:
        given = psutil.Process(pid).environ().get("CUDA_VISIBLE_DEVICES", "")
    except psutil.Error:
        return []
    return [g.strip() for g in given.split(",") if g.strip()]
