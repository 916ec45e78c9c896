"""System metrics as the store keeps them: 10-second aggregates (mean, min, max) per node and key, apart from the
user's metrics (so get_metrics() never sees them). Written by ingest from `system` spool lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runyard.store.base import SpoolEvent
    from runyard.store.sql import Tx

SYSTEM_SCHEMA = """
CREATE TABLE IF NOT EXISTS system_metrics (
    run_id TEXT NOT NULL, node INTEGER NOT NULL, key TEXT NOT NULL, time DOUBLE PRECISION NOT NULL,
    mean DOUBLE PRECISION NOT NULL, min_value DOUBLE PRECISION NOT NULL, max_value DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS system_metrics_by_run ON system_metrics(run_id, key, node, time);
"""
SYSTEM_KIND = "system"


@dataclass(frozen=True)
class SystemPoint:
    node: int
    key: str
    time: float
    mean: float
    min: float
    max: float


def write_system(tx: Tx, run_id: str, events: Sequence[SpoolEvent]) -> None:
    """Aggregates of one batch (inside the caller's ingest transaction); rank is the node there."""
    tx.executemany("INSERT INTO system_metrics(run_id, node, key, time, mean, min_value, max_value)"
                   " VALUES (?,?,?,?,?,?,?)",
                   [(run_id, e.rank, e.key, e.time, float(e.value[0]), float(e.value[1]), float(e.value[2]))
                    for e in events])


def read_system(tx: Tx, run_id: str, key: str | None = None) -> list[SystemPoint]:
    where, params = ("AND key=?", [run_id, key]) if key else ("", [run_id])
    rows = tx.rows("SELECT node, key, time, mean, min_value, max_value FROM system_metrics WHERE run_id=? "
                   f"{where} ORDER BY key, node, time", params)
    return [SystemPoint(int(n), k, float(t), float(m), float(lo), float(hi)) for n, k, t, m, lo, hi in rows]


def as_series(points: Sequence[SystemPoint]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{key: {"node 0": {"time": [...], "mean": [...], "min": [...], "max": [...]}}}: the readers' shape."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for p in points:
        series = out.setdefault(p.key, {}).setdefault(f"node {p.node}", {"time": [], "mean": [], "min": [],
                                                                          "max": []})
        series["time"].append(p.time)
        series["mean"].append(p.mean)
        series["min"].append(p.min)
        series["max"].append(p.max)
    return out
