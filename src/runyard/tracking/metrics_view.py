"""Shaping stored values into what `Run.get_metrics()` returns, as the service did.

scalar logged once -> the value; logged several times -> a list; log_list -> the list;
log_row -> {column: [values...]}; log_table -> {column: [values...]}; log_image -> the file name.
By default each key shows rank 0's values (or the lowest rank that logged the key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from runyard.store.base import KeyValues, MetricKind


def _columns(rows: Iterable[dict[str, Any]], extend: bool) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        for col, v in row.items():
            if extend and isinstance(v, list):
                columns[col].extend(v)
            else:
                columns[col].append(v)
    return dict(columns)


def shape_metrics(found: Iterable[KeyValues], all_ranks: bool = False) -> dict[str, Any]:
    by_key: dict[str, list[KeyValues]] = defaultdict(list)
    for kv in found:
        by_key[kv.key].append(kv)
    result: dict[str, Any] = {}
    for key, per_rank in by_key.items():
        if all_ranks:
            values = [v for kv in sorted(per_rank, key=lambda kv: kv.rank) for v in kv.values]
        else:
            values = min(per_rank, key=lambda kv: kv.rank).values
        kind = per_rank[0].kind
        if kind is MetricKind.ROW:
            result[key] = _columns(values, extend=False)
        elif kind is MetricKind.TABLE:
            result[key] = _columns(values, extend=True)
        else:
            result[key] = values[0] if len(values) == 1 else list(values)
    return result
