"""Tracking stores: the interface and its SQLite implementation (loaded on first use)."""

from typing import Any

from runyard.store.base import MetricKind, MetricPoint, RunRecord, SpoolEvent, StatusEvent, Store

__all__ = ["MetricKind", "MetricPoint", "RunRecord", "SpoolEvent", "SqliteStore", "StatusEvent", "Store"]


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":  # a training script that only logs never opens the database
        from runyard.store.sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(name)
