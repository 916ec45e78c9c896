"""Tracking stores: the interface and its SQLite implementation."""

from runyard.store.base import MetricKind, MetricPoint, RunRecord, SpoolEvent, StatusEvent, Store
from runyard.store.sqlite import SqliteStore

__all__ = ["MetricKind", "MetricPoint", "RunRecord", "SpoolEvent", "SqliteStore", "StatusEvent", "Store"]
