"""Metric rows every SQL store keeps, independent of the engine: packed numeric chunks, object rows, summaries.

Row-per-point metric tables are what makes other trackers crawl at millions of points. Here each
ingest batch stores, per (run, key, rank), ONE row holding packed int64 steps, float64 times and
float64 values (24 bytes a point), and updates a per-key summary (count, latest, min, max) in the
same transaction, so run tables never scan points. Strings, lists, rows, tables and images are rare
and stay one JSON row each. SQLite (sqlite_metrics.py) and PostgreSQL (postgres.py) write these rows
with their own SQL; packing and decoding live here once.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runyard.store.base import KeyValues, MetricKind, MetricSummary, Series, SpoolEvent
from runyard.store.metric_rollup import rollup_of

NO_STEP = -1  # a point logged without step=
KINDS = frozenset(k.value for k in MetricKind)


@dataclass
class PackedMetrics:
    """The rows one ingest batch adds, in the column order of the tables."""

    # (run_id, key, rank, n, first_time, all_ints, steps, times, vals)
    chunks: list[tuple[Any, ...]] = field(default_factory=list)
    # (run_id, key, rank, n, rollup): one per chunk, in the same order (metric_rollup.py)
    rollups: list[tuple[Any, ...]] = field(default_factory=list)
    # (run_id, key, kind, rank, step, time, data, description)
    objects: list[tuple[Any, ...]] = field(default_factory=list)
    # (run_id, key, rank, kind, n, last_step, last_time, last_value, min_value, max_value)
    summaries: list[tuple[Any, ...]] = field(default_factory=list)


def _is_number(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and not isinstance(value, bool)


def pack(run_id: str, events: Sequence[SpoolEvent]) -> PackedMetrics:
    numeric: dict[tuple[str, int], list[SpoolEvent]] = defaultdict(list)
    packed = PackedMetrics()
    for e in events:
        if e.kind == MetricKind.SCALAR.value and _is_number(e.value):
            numeric[(e.key, e.rank)].append(e)
        else:
            packed.objects.append((run_id, e.key, e.kind, e.rank, e.step, e.time, json.dumps(e.value),
                                   e.description))
    for (key, rank), pts in numeric.items():
        vals = array("d", (float(p.value) for p in pts))
        steps = array("q", (NO_STEP if p.step is None else int(p.step) for p in pts))
        times = array("d", (p.time for p in pts))
        all_ints = all(type(p.value) is int and abs(p.value) < 2**53 for p in pts)  # 3 reads back as 3, 3.0 as 3.0
        packed.chunks.append((run_id, key, rank, len(pts), pts[0].time, all_ints, steps.tobytes(), times.tobytes(),
                              vals.tobytes()))
        packed.rollups.append((run_id, key, rank, len(pts), rollup_of(steps, times, vals, NO_STEP)))
        finite = [v for v in vals if not math.isnan(v)]
        last = pts[-1]
        packed.summaries.append((run_id, key, rank, MetricKind.SCALAR.value, len(pts), last.step, last.time,
                                 None if math.isnan(vals[-1]) else vals[-1],
                                 min(finite) if finite else None, max(finite) if finite else None))
    for row in packed.objects:
        packed.summaries.append((row[0], row[1], row[3], row[2], 1, row[4], row[5], None, None, None))
    return packed


def values_from_rows(chunk_rows: Iterable[tuple[Any, ...]], object_rows: Iterable[tuple[Any, ...]]) -> list[KeyValues]:
    """chunk rows (key, rank, vals, all_ints, first_time) and object rows (key, rank, kind, data, time), each
    in storage order -> every logged value per (key, rank), in logging order."""
    import numpy as np  # readers only: the supervisor's start-up never pays for numpy

    found: dict[tuple[str, int], KeyValues] = {}
    for key, r, vals, all_ints, first_time in chunk_rows:
        kv = found.setdefault((key, r), KeyValues(key, r, MetricKind.SCALAR, [], first_time))
        decoded = np.frombuffer(bytes(vals), dtype=np.float64)
        kv.values.extend((decoded.astype(np.int64) if all_ints else decoded).tolist())
    for key, r, kind, data, t in object_rows:
        if kind not in KINDS:
            continue  # a row of a kind this version does not know (a newer writer, a bad client): not shown
        if (key, r) in found and found[(key, r)].kind is MetricKind.SCALAR and kind == MetricKind.SCALAR.value:
            found[(key, r)].values.append(json.loads(data))  # a string among numbers: kept, order by kind
            continue
        kv = found.setdefault((key, r), KeyValues(key, r, MetricKind(kind), [], t))
        kv.values.append(json.loads(data))
    return sorted(found.values(), key=lambda kv: (kv.first_time, kv.key, kv.rank))


def series_from_rows(rows: Sequence[tuple[Any, Any, Any]]) -> Series:
    """(steps, times, vals) blobs in storage order -> one Series of numpy arrays."""
    import numpy as np

    if not rows:
        return Series(np.empty(0, np.int64), np.empty(0), np.empty(0))
    steps = np.concatenate([np.frombuffer(bytes(r[0]), dtype=np.int64) for r in rows])
    times = np.concatenate([np.frombuffer(bytes(r[1]), dtype=np.float64) for r in rows])
    vals = np.concatenate([np.frombuffer(bytes(r[2]), dtype=np.float64) for r in rows])
    return Series(steps, times, vals)


def summaries_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[MetricSummary]:
    return [MetricSummary(run_id=r[0], key=r[1], rank=r[2], kind=MetricKind(r[3]), count=r[4], last_step=r[5],
                          last_time=r[6], last=r[7], min=r[8], max=r[9]) for r in rows if r[3] in KINDS]


SUMMARY_COLUMNS = ("s.run_id, s.key, s.rank, s.kind, s.n, s.last_step, s.last_time, s.last_value, s.min_value,"
                   " s.max_value")
