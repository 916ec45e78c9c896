"""Metric storage for the SQLite store: numeric series in packed chunks, everything else as rows.

Row-per-point metric tables are what makes other trackers crawl at millions of points. Here each
ingest batch stores, per (run, key, rank), ONE row holding packed int64 steps, float64 times and
float64 values (24 bytes a point), and updates a per-key summary (count, latest, min, max) in the
same transaction, so run tables never scan points. Strings, lists, rows, tables and images are rare
and stay one JSON row each.
"""

from __future__ import annotations

import json
import math
import sqlite3
from array import array
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from runyard.store.base import KeyValues, MetricKind, MetricSummary, Series, SpoolEvent

NO_STEP = -1  # a point logged without step=
_KINDS = frozenset(k.value for k in MetricKind)

METRICS_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_chunks (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL,
    n INTEGER NOT NULL, first_time REAL NOT NULL, all_ints INTEGER NOT NULL,
    steps BLOB NOT NULL, times BLOB NOT NULL, vals BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS metric_chunks_by_key ON metric_chunks(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_objects (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, rank INTEGER NOT NULL,
    step INTEGER, time REAL NOT NULL, data TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS metric_objects_by_key ON metric_objects(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_summary (
    run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,
    last_step INTEGER, last_time REAL, last_value REAL, min_value REAL, max_value REAL,
    PRIMARY KEY (run_id, key, rank));
"""


def _is_number(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and not isinstance(value, bool)


def write_events(db: sqlite3.Connection, run_id: str, events: Sequence[SpoolEvent]) -> None:
    """Store metric events (inside the caller's transaction)."""
    numeric: dict[tuple[str, int], list[SpoolEvent]] = defaultdict(list)
    objects = []
    for e in events:
        if e.kind == MetricKind.SCALAR.value and _is_number(e.value):
            numeric[(e.key, e.rank)].append(e)
        else:
            objects.append((run_id, e.key, e.kind, e.rank, e.step, e.time, json.dumps(e.value), e.description))
    chunks, summaries = [], []
    for (key, rank), pts in numeric.items():
        vals = array("d", (float(p.value) for p in pts))
        steps = array("q", (NO_STEP if p.step is None else int(p.step) for p in pts))
        times = array("d", (p.time for p in pts))
        all_ints = all(type(p.value) is int and abs(p.value) < 2**53 for p in pts)  # 3 reads back as 3, 3.0 as 3.0
        chunks.append((run_id, key, rank, len(pts), pts[0].time, all_ints, steps.tobytes(), times.tobytes(),
                       vals.tobytes()))
        finite = [v for v in vals if not math.isnan(v)]
        last = pts[-1]
        summaries.append((run_id, key, rank, MetricKind.SCALAR.value, len(pts), last.step, last.time,
                          None if math.isnan(vals[-1]) else vals[-1],
                          min(finite) if finite else None, max(finite) if finite else None))
    for row in objects:
        summaries.append((row[0], row[1], row[3], row[2], 1, row[4], row[5], None, None, None))
    db.executemany("INSERT INTO metric_chunks(run_id, key, rank, n, first_time, all_ints, steps, times, vals)"
                   " VALUES (?,?,?,?,?,?,?,?,?)", chunks)
    db.executemany("INSERT INTO metric_objects(run_id, key, kind, rank, step, time, data, description)"
                   " VALUES (?,?,?,?,?,?,?,?)", objects)
    db.executemany(
        "INSERT INTO metric_summary(run_id, key, rank, kind, n, last_step, last_time, last_value, min_value,"
        " max_value) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, key, rank) DO UPDATE SET"
        " n = n + excluded.n, last_step = excluded.last_step, last_time = excluded.last_time,"
        " last_value = excluded.last_value,"
        " min_value = CASE WHEN min_value IS NULL THEN excluded.min_value"
        "   WHEN excluded.min_value IS NULL THEN min_value ELSE min(min_value, excluded.min_value) END,"
        " max_value = CASE WHEN max_value IS NULL THEN excluded.max_value"
        "   WHEN excluded.max_value IS NULL THEN max_value ELSE max(max_value, excluded.max_value) END",
        summaries)


def _in(column: str, values: Sequence[Any] | None) -> tuple[str, list[Any]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(values))})", list(values)


def read_values(db: sqlite3.Connection, run_id: str, keys: Sequence[str] | None,
                rank: int | None) -> list[KeyValues]:
    """Every logged value per (key, rank), in logging order."""
    import numpy as np  # readers only: the supervisor's start-up never pays for numpy

    key_sql, key_params = _in("key", keys)
    rank_sql, rank_params = ("", []) if rank is None else (" AND rank=?", [rank])
    found: dict[tuple[str, int], KeyValues] = {}
    rows = db.execute(f"SELECT key, rank, vals, all_ints, first_time FROM metric_chunks WHERE run_id=?{key_sql}"
                      f"{rank_sql} ORDER BY key, rank, seq", [run_id, *key_params, *rank_params]).fetchall()
    for key, r, vals, all_ints, first_time in rows:
        kv = found.setdefault((key, r), KeyValues(key, r, MetricKind.SCALAR, [], first_time))
        decoded = np.frombuffer(vals, dtype=np.float64)
        kv.values.extend((decoded.astype(np.int64) if all_ints else decoded).tolist())
    objects = db.execute(f"SELECT key, rank, kind, data, time FROM metric_objects WHERE run_id=?{key_sql}{rank_sql}"
                         " ORDER BY seq", [run_id, *key_params, *rank_params]).fetchall()
    for key, r, kind, data, t in objects:
        if kind not in _KINDS:
            continue  # a row of a kind this version does not know (a newer writer, a bad client): not shown
        if (key, r) in found and found[(key, r)].kind is MetricKind.SCALAR and kind == MetricKind.SCALAR.value:
            found[(key, r)].values.append(json.loads(data))  # a string among numbers: kept, order by kind
            continue
        kv = found.setdefault((key, r), KeyValues(key, r, MetricKind(kind), [], t))
        kv.values.append(json.loads(data))
    return sorted(found.values(), key=lambda kv: (kv.first_time, kv.key, kv.rank))


def read_series(db: sqlite3.Connection, run_id: str, key: str, rank: int) -> Series:
    import numpy as np

    rows = db.execute("SELECT steps, times, vals FROM metric_chunks WHERE run_id=? AND key=? AND rank=? ORDER BY seq",
                      (run_id, key, rank)).fetchall()
    if not rows:
        return Series(np.empty(0, np.int64), np.empty(0), np.empty(0))
    steps = np.concatenate([np.frombuffer(r[0], dtype=np.int64) for r in rows])
    times = np.concatenate([np.frombuffer(r[1], dtype=np.float64) for r in rows])
    vals = np.concatenate([np.frombuffer(r[2], dtype=np.float64) for r in rows])
    return Series(steps, times, vals)


def read_summaries(db: sqlite3.Connection, run_ids: Sequence[str] | None, experiment: str | None,
                   rank: int | None) -> list[MetricSummary]:
    sql = ("SELECT s.run_id, s.key, s.rank, s.kind, s.n, s.last_step, s.last_time, s.last_value, s.min_value,"
           " s.max_value FROM metric_summary s")
    params: list[Any] = []
    if experiment is not None:
        sql += " JOIN runs r ON r.run_id = s.run_id WHERE r.experiment=?"
        params.append(experiment)
    else:
        sql += " WHERE 1=1"
    ids_sql, ids = _in("s.run_id", run_ids)
    sql += ids_sql
    params += ids
    if rank is not None:
        sql += " AND s.rank=?"
        params.append(rank)
    return [MetricSummary(run_id=r[0], key=r[1], rank=r[2], kind=MetricKind(r[3]), count=r[4], last_step=r[5],
                          last_time=r[6], last=r[7], min=r[8], max=r[9]) for r in db.execute(sql, params)
            if r[3] in _KINDS]
