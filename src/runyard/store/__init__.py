"""Tracking stores: the interface and its SQLite implementation (loaded on first use)."""

from typing import Any

from runyard.store.base import KeyValues, MetricKind, MetricSummary, RunRecord, Series, SpoolEvent, StatusEvent, Store

__all__ = ["KeyValues", "MetricKind", "MetricSummary", "RunRecord", "Series", "SpoolEvent", "SqliteStore", "StatusEvent",
           "Store"]


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":  # a training script that only logs never opens the database
        from runyard.store.sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(name)
