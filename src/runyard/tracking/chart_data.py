"""What a run page draws, shaped on the server: every series of a run at the width of its chart.

A chart of W pixels cannot show more than W x positions, so a series of 100,000 points is sent as W
buckets of consecutive points, each with its first step and time, and its min, max and mean: the line is
the mean and the band min..max, so a single spike still reaches the edge of the band. Zooming asks again
for the visible step range only, at the same width, which returns the raw points once they fit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from runyard.store.base import MetricKind, Store
from runyard.store.metric_rows import NO_STEP
from runyard.tracking.metrics_view import shape_metrics

MAX_BUCKETS = 4000


@dataclass(frozen=True)
class ChartSeries:
    """One (key, rank) series for a chart: raw points when they fit, else one entry per bucket."""

    key: str
    rank: int
    total: int
    steps: list[float]
    times: list[float]
    values: list[float | None]  # the points, or each bucket's mean
    low: list[float | None] | None = None  # each bucket's min and max, only when bucketed
    high: list[float | None] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "rank": self.rank, "total": self.total, "steps": self.steps,
                               "times": self.times, "values": self.values}
        if self.low is not None:
            out["low"], out["high"] = self.low, self.high
        return out


def _nullable(column: np.ndarray) -> list[float | None]:
    """JSON has no NaN: a NaN or inf point (or an empty bucket) is a gap."""
    return [v if math.isfinite(v) else None for v in column.tolist()]


def chart_series(store: Store, run_id: str, key: str, rank: int, buckets: int,
                 step_range: tuple[float, float] | None = None) -> ChartSeries:
    raw = store.metric_series(run_id, key, rank)
    steps = raw.steps.astype(np.float64)
    if len(steps) and (raw.steps == NO_STEP).any():  # logged without step=: x is the point's index
        steps = np.arange(len(steps), dtype=np.float64)
    times, values = raw.times, raw.values.astype(np.float64)
    if step_range is not None:
        keep = (steps >= step_range[0]) & (steps <= step_range[1])
        steps, times, values = steps[keep], times[keep], values[keep]
    total = len(values)
    buckets = max(1, min(buckets, MAX_BUCKETS))
    if total <= buckets:
        return ChartSeries(key, rank, total, steps.tolist(), times.tolist(), _nullable(values))
    size = -(-total // buckets)
    starts = np.arange(0, total, size)
    grid = np.full(len(starts) * size, np.nan)
    grid[:total] = np.where(np.isfinite(values), values, np.nan)
    grid = grid.reshape(len(starts), size)
    with warnings.catch_warnings():  # a bucket of only NaN is a gap, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high, mean = np.nanmin(grid, axis=1), np.nanmax(grid, axis=1), np.nanmean(grid, axis=1)
    return ChartSeries(key, rank, total, steps[starts].tolist(), times[starts].tolist(), _nullable(mean),
                       _nullable(low), _nullable(high))


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
