"""A rollup of each stored chunk of a numeric series, written with it: per group of GROUP consecutive points, the
group's first step and time, and the min, max, sum and count of its finite values (44 bytes for 16 points of 24).

A chart W pixels wide over a long series needs W buckets of min/max/mean, not every point: built from the groups
it reads 1/8 of the bytes and sums a few thousand groups instead of 100,000 points (a run page's first charts come
from a cold server in a few ms, not tens). Groups never span chunks, so a bucket made of whole groups is a few points
wider or narrower than an exact one; its min and max still cover every point in it, so a spike always shows.
Chunks written before rollups existed have none: their series are bucketed from the points, as before.

Writing is plain Python (the supervisor ingests without numpy); reading is numpy (the server has it).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GROUP = 16
FORMAT = 1
STEPLESS = 1  # header flag: some point of the chunk was logged without step= (its x is then the point's index)
_HEADER = struct.Struct("<BB")  # format, flags
_RECORD = struct.Struct("<qddddI")  # first step, first time, min, max, sum, finite count
_NAN = float("nan")


def rollup_of(steps: array, times: array, vals: array, no_step: int) -> bytes:
    """The rollup of one chunk's points (steps int64 with `no_step` for none, times and values float64)."""
    every_finite = all(map(math.isfinite, vals))
    records = []
    for first in range(0, len(vals), GROUP):
        part = vals[first:first + GROUP]
        if not every_finite:
            part = [v for v in part if math.isfinite(v)]
        low, high, total = (min(part), max(part), sum(part)) if len(part) else (_NAN, _NAN, 0.0)
        records.append(_RECORD.pack(steps[first], times[first], low, high, total, len(part)))
    return _HEADER.pack(FORMAT, STEPLESS if no_step in steps else 0) + b"".join(records)


@dataclass(frozen=True)
class SeriesRollup:
    """A whole series' groups, in order (numpy arrays, one entry per group)."""

    total: int  # points in the series
    starts: Any  # each group's first point's index in the series
    steps: Any
    times: Any
    mins: Any
    maxs: Any
    sums: Any
    counts: Any
    stepless: bool  # some point has no step: x is the point's index


def rollup_from_rows(rows: Sequence[tuple[int, Any]]) -> SeriesRollup | None:
    """(n, rollup) of a series' chunks in storage order -> its groups; None when a chunk has no rollup (written
    before rollups existed) or one in a format this code does not read."""
    import numpy as np

    blobs = [None if blob is None else bytes(blob) for _, blob in rows]
    if not blobs or any(blob is None or blob[0] != FORMAT for blob in blobs):
        return None
    record = np.dtype([("step", "<i8"), ("time", "<f8"), ("min", "<f8"), ("max", "<f8"), ("sum", "<f8"),
                       ("count", "<u4")])
    groups = np.frombuffer(b"".join(blob[_HEADER.size:] for blob in blobs), dtype=record)
    sizes = np.array([n for n, _ in rows], dtype=np.int64)
    per_chunk = -(-sizes // GROUP)
    if int(per_chunk.sum()) != len(groups):
        return None  # not what these chunks' sizes say: read the points instead
    chunk_first = np.cumsum(sizes) - sizes  # each chunk's first point in the series
    group_first = np.cumsum(per_chunk) - per_chunk  # each chunk's first group
    within = np.arange(len(groups), dtype=np.int64) - np.repeat(group_first, per_chunk)
    starts = np.repeat(chunk_first, per_chunk) + within * GROUP
    stepless = any(blob[1] & STEPLESS for blob in blobs)
    return SeriesRollup(int(sizes.sum()), starts, groups["step"], groups["time"], groups["min"], groups["max"],
                        groups["sum"], groups["count"], stepless)
