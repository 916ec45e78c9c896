"""What a run page draws, shaped on the server: every series of a run at the width of its chart.

A chart of W pixels cannot show more than W x positions, so a series of 100,000 points is sent as W
buckets of consecutive points, each with its first step and time, and its min, max and mean: the line is
the mean and the band min..max, so a single spike still reaches the edge of the band. A long series is bucketed
from its stored rollup (metric_rollup.py: groups of 16 points) rather than from every point. Zooming asks again
for the visible step range only, at the same width, which returns the raw points once they fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from runyard.store.base import MetricKind, Store
from runyard.store.metric_rollup import GROUP, SeriesRollup
from runyard.store.metric_rows import NO_STEP
from runyard.tracking.metrics_view import shape_metrics

MAX_BUCKETS = 4000
MIN_GROUPS_PER_BUCKET = 4  # a bucket of whole rollup groups is then within a quarter of its exact width


@dataclass(frozen=True)
class ChartSeries:
    """One (key, rank) series for a chart: raw points when they fit, else one entry per bucket. Arrays, so the
    server encodes them without a Python float per point (NaN and inf become null: a gap)."""

    key: str
    rank: int
    total: int
    steps: np.ndarray  # int64 when every step is whole
    times: np.ndarray
    values: np.ndarray  # the points (float64), or each bucket's mean (float32: a pixel needs no more)
    low: np.ndarray | None = None  # each bucket's min and max, only when bucketed
    high: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "rank": self.rank, "total": self.total, "steps": self.steps,
                               "times": self.times, "values": self.values}
        if self.low is not None:
            out["low"], out["high"] = self.low, self.high
        return out


def _whole(steps: np.ndarray) -> np.ndarray:
    return steps.astype(np.int64) if len(steps) and np.all(steps == np.floor(steps)) else steps


def _bucket_stats(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """min, max and mean of each run of `size` consecutive points (the last run may be shorter)."""
    total = len(values)
    if np.isfinite(values).all():  # the usual case: plain reductions over a reshaped view, no copy
        full = total - total % size
        grid = values[:full].reshape(-1, size)
        parts = [(grid.min(axis=1), grid.max(axis=1), grid.mean(axis=1))]
        if full < total:
            tail = values[full:]
            parts.append((np.array([tail.min()]), np.array([tail.max()]), np.array([tail.mean()])))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
    buckets = -(-total // size)
    grid = np.full(buckets * size, np.nan)
    grid[:total] = np.where(np.isfinite(values), values, np.nan)
    grid = grid.reshape(buckets, size)
    with warnings.catch_warnings():  # a bucket of only NaN is a gap, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(grid, axis=1), np.nanmax(grid, axis=1), np.nanmean(grid, axis=1)


def _from_rollup(key: str, rank: int, rollup: SeriesRollup, buckets: int) -> ChartSeries | None:
    """The series in about `buckets` buckets of whole groups, or None when its groups are too coarse for that
    (fewer than MIN_GROUPS_PER_BUCKET a bucket: the points are read instead)."""
    size = -(-rollup.total // buckets)
    if size < MIN_GROUPS_PER_BUCKET * GROUP:
        return None
    bucket_of = rollup.starts // size
    firsts = np.flatnonzero(np.r_[True, bucket_of[1:] != bucket_of[:-1]])  # each bucket's first group
    counts = np.add.reduceat(rollup.counts.astype(np.int64), firsts)
    sums = np.add.reduceat(rollup.sums, firsts)
    with np.errstate(invalid="ignore", divide="ignore"):  # a bucket of only NaN/inf is a gap
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    steps = rollup.starts if rollup.stepless else rollup.steps
    return ChartSeries(key, rank, rollup.total, steps[firsts].astype(np.int64), rollup.times[firsts],
                       mean.astype(np.float32), np.fmin.reduceat(rollup.mins, firsts).astype(np.float32),
                       np.fmax.reduceat(rollup.maxs, firsts).astype(np.float32))


def chart_series(store: Store, run_id: str, key: str, rank: int, buckets: int,
                 step_range: tuple[float, float] | None = None) -> ChartSeries:
    buckets = max(1, min(buckets, MAX_BUCKETS))
    if step_range is None:  # the whole series: from its rollup when the store keeps one and it is fine enough
        rollup = store.metric_rollup(run_id, key, rank)
        drawn = _from_rollup(key, rank, rollup, buckets) if rollup is not None else None
        if drawn is not None:
            return drawn
    raw = store.metric_series(run_id, key, rank)
    steps = raw.steps.astype(np.float64)
    if len(steps) and (raw.steps == NO_STEP).any():  # logged without step=: x is the point's index
        steps = np.arange(len(steps), dtype=np.float64)
    times, values = raw.times, raw.values.astype(np.float64)
    if step_range is not None:
        keep = (steps >= step_range[0]) & (steps <= step_range[1])
        steps, times, values = steps[keep], times[keep], values[keep]
    total = len(values)
    if total <= buckets:
        return ChartSeries(key, rank, total, _whole(steps), np.ascontiguousarray(times), values)
    size = -(-total // buckets)
    low, high, mean = _bucket_stats(values, size)
    starts = np.arange(0, total, size)
    return ChartSeries(key, rank, total, _whole(steps[starts]), times[starts], mean.astype(np.float32),
                       low.astype(np.float32), high.astype(np.float32))


def charted_keys(counts: dict[str, dict[int, int]]) -> list[str]:
    """The keys a run page draws, in its order, from key -> rank -> points of the numeric series: a key logged
    more than once by its first rank, or by several ranks (a value logged once is a summary row, not a chart)."""
    return [key for key, ranks in sorted(counts.items()) if len(ranks) > 1 or ranks[min(ranks)] > 1]


@dataclass(frozen=True)
class MetricOverview:
    """Everything a run page shows about metrics without reading a point: what is charted (scalar keys and
    the ranks that logged them), a summary row per key, and the values of everything that is not a series."""

    series: dict[str, list[int]]
    summary: list[dict[str, Any]]
    values: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"series": self.series, "summary": self.summary, "values": self.values}


def metric_overview(store: Store, run_id: str) -> MetricOverview:
    series: dict[str, list[int]] = {}
    first_rank: dict[str, Any] = {}
    others: list[str] = []
    for s in store.metric_summaries(run_ids=[run_id]):
        if s.kind is MetricKind.SCALAR and (s.last is not None or s.min is not None):  # numbers: a series
            series.setdefault(s.key, []).append(s.rank)
            if s.key not in first_rank or s.rank < first_rank[s.key].rank:
                first_rank[s.key] = s
        elif s.key not in others:
            others.append(s.key)
    summary = [{"key": k, "rank": s.rank, "last": s.last, "min": s.min, "max": s.max, "count": s.count}
               for k, s in sorted(first_rank.items())]
    values = shape_metrics(store.metric_values(run_id, others)) if others else {}
    return MetricOverview({k: sorted(v) for k, v in sorted(series.items())}, summary, values)
