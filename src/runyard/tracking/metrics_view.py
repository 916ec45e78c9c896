"""Shaping stored points into what `Run.get_metrics()` returns, as the service did.

scalar logged once -> the value; logged several times -> a list; log_list -> the list;
log_row -> {column: [values...]}; log_table -> {column: [values...]}; log_image -> the file name.
By default each key shows rank 0's points (or the lowest rank that logged the key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from runyard.store.base import MetricKind, MetricPoint


def _one_rank(points: list[MetricPoint]) -> list[MetricPoint]:
    lowest = min(p.rank for p in points)
    return [p for p in points if p.rank == lowest]


def shape_metrics(points: Iterable[MetricPoint], all_ranks: bool = False) -> dict[str, Any]:
    by_key: dict[str, list[MetricPoint]] = defaultdict(list)
    for p in points:
        by_key[p.key].append(p)
    result: dict[str, Any] = {}
    for key, pts in by_key.items():
        if not all_ranks:
            pts = _one_rank(pts)
        kind = pts[0].kind
        if kind is MetricKind.ROW:
            columns: dict[str, list[Any]] = defaultdict(list)
            for p in pts:
                for col, v in p.value.items():
                    columns[col].append(v)
            result[key] = dict(columns)
        elif kind is MetricKind.TABLE:
            merged: dict[str, list[Any]] = defaultdict(list)
            for p in pts:
                for col, v in p.value.items():
                    merged[col].extend(v if isinstance(v, list) else [v])
            result[key] = dict(merged)
        else:
            values = [p.value for p in pts]
            result[key] = values[0] if len(values) == 1 else values
    return result
