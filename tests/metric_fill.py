"""Runs with many long series written straight into a workspace's store (as the supervisor's batched ingests
would), for the UI's scale tests and bench/ui_load.py."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from runyard.status import RunStatus
from runyard.store.base import RunRecord, SpoolEvent

BATCH = 20_000


def big_run(ws: Any, run_id: str, metrics: int, points: int, experiment: str = "bench",
            spikes: dict[int, tuple[int, float]] | None = None, status: RunStatus = RunStatus.COMPLETED) -> str:
    """A run logging `metrics` random walks (metric_000, ...) of `points` steps each; spikes={metric: (step,
    value)} puts one outlier in a metric."""
    store = ws.store
    store.create_run(RunRecord(run_id=run_id, experiment=experiment, status=status, target="local",
                               created_time=time.time(), spec_json='{"arguments": ["--lr", "0.1"]}'))
    rng = np.random.default_rng(0)
    offset = 0
    for m in range(metrics):
        values = np.cumsum(rng.normal(size=points)) / 100
        if spikes and m in spikes:
            values[spikes[m][0]] = spikes[m][1]
        for start in range(0, points, BATCH):
            events = [SpoolEvent("scalar", f"metric_{m:03d}", float(values[i]), i, 0, 1.7e9 + i)
                      for i in range(start, min(points, start + BATCH))]
            store.ingest(run_id, events, "rank-0.1.jsonl", offset, offset + 1)
            offset += 1
    return run_id


def small_runs(ws: Any, count: int) -> None:
    """`count` finished runs over 20 experiments, each with an accuracy and an --lr."""
    store = ws.store
    for i in range(count):
        run_id = f"small_{1700000000 + i}_aaaaaaaa"
        store.create_run(RunRecord(run_id=run_id, experiment=f"exp{i % 20}", status=RunStatus.COMPLETED,
                                   target="local", created_time=1.7e9 + i,
                                   spec_json=f'{{"arguments": ["--lr", "{0.001 * (i % 97)}"]}}'))
        store.ingest(run_id, [SpoolEvent("scalar", "accuracy", float(i % 100) / 100, None, 0, 1.7e9 + i)],
                     "rank-0.1.jsonl", 0, 1)
