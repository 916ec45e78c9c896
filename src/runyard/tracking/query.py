"""Metric queries used by the CLI and the server: chart series, run tables, per-rank series.

A series for a chart is downsampled by min/max per bucket (with each bucket's first and last point),
so a 1M-point curve keeps its spikes in a few thousand points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runyard.store.base import MetricSummary, Store
from runyard.store.metric_rows import NO_STEP


@dataclass(frozen=True)
class SeriesView:
    key: str
    rank: int
    steps: list[float]
    values: list[float | None]
    times: list[float]
    total_points: int
    downsampled: bool
    # when downsampled: per bucket of consecutive points, its first step and its min, max and mean (a band)
    bands: dict[str, list[float | None]] | None = None


def downsample_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices to keep: per bucket of consecutive points, its first, min, max and last (M4)."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 4)
    size = -(-n // buckets)
    padded_low = np.full(buckets * size, np.inf)
    padded_high = np.full(buckets * size, -np.inf)
    finite = np.where(np.isnan(values), np.inf, values)
    padded_low[:n] = finite
    padded_high[:n] = np.where(np.isnan(values), -np.inf, values)
    base = np.arange(buckets) * size
    lows = base + padded_low.reshape(buckets, size).argmin(axis=1)
    highs = base + padded_high.reshape(buckets, size).argmax(axis=1)
    firsts = base
    lasts = np.minimum(base + size - 1, n - 1)
    keep = np.unique(np.concatenate([firsts, lows, highs, lasts]))
    return keep[keep < n]


def get_series(store: Store, run_id: str, key: str, rank: int = 0, step_range: tuple[float, float] | None = None,
               time_range: tuple[float, float] | None = None, max_points: int | None = 2000) -> SeriesView:
    raw = store.metric_series(run_id, key, rank)
    steps = raw.steps.astype(np.float64)
    if len(steps) and (raw.steps == NO_STEP).any():  # logged without step=: x is the point's index
        steps = np.arange(len(steps), dtype=np.float64)
    mask = np.ones(len(steps), dtype=bool)
    if step_range is not None:
        mask &= (steps >= step_range[0]) & (steps <= step_range[1])
    if time_range is not None:
        mask &= (raw.times >= time_range[0]) & (raw.times <= time_range[1])
    steps, times, values = steps[mask], raw.times[mask], raw.values[mask]
    total = len(values)
    band = None
    if max_points is not None and total > max_points:
        band = bands(steps, values, max_points)
        keep = downsample_indices(values, max_points)
        steps, times, values = steps[keep], times[keep], values[keep]
    return SeriesView(key, rank, steps.tolist(), [None if np.isnan(v) else v for v in values.tolist()],
                      times.tolist(), total, len(values) < total, band)


def bands(steps: np.ndarray, values: np.ndarray, max_points: int) -> dict[str, list[float | None]]:
    """Per bucket (as many as downsampling keeps /4): its first step, min, max and mean, NaN left out."""
    import warnings

    n = len(values)
    buckets = max(1, max_points // 4)
    size = -(-n // buckets)
    starts = np.arange(0, n, size)
    padded = np.full(len(starts) * size, np.nan)
    padded[:n] = values
    grid = padded.reshape(len(starts), size)
    with warnings.catch_warnings():  # a bucket of only NaN gives NaN (a gap), not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = {"low": np.nanmin(grid, axis=1), "high": np.nanmax(grid, axis=1), "mean": np.nanmean(grid, axis=1)}
    out: dict[str, list[float | None]] = {"steps": steps[starts].tolist()}
    for name, column in stats.items():
        out[name] = [None if np.isnan(v) else v for v in column.tolist()]
    return out


@dataclass
class RunMetrics:
    """latest / min / max / count per key for one run (rank 0, or the lowest rank that logged the key)."""

    run_id: str
    metrics: dict[str, MetricSummary] = field(default_factory=dict)

    def latest(self) -> dict[str, Any]:
        return {k: s.last for k, s in self.metrics.items()}


def run_table(store: Store, run_ids: Sequence[str] | None = None, experiment: str | None = None,
              rank: int | None = None) -> dict[str, RunMetrics]:
    table: dict[str, RunMetrics] = {}
    for s in store.metric_summaries(run_ids=run_ids, experiment=experiment, rank=rank):
        row = table.setdefault(s.run_id, RunMetrics(s.run_id))
        current = row.metrics.get(s.key)
        if current is None or s.rank < current.rank:
            row.metrics[s.key] = s
    return table


def ranks_of(store: Store, run_id: str, key: str) -> list[int]:
    return sorted(s.rank for s in store.metric_summaries(run_ids=[run_id]) if s.key == key)
