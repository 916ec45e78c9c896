"""Terminal output for the CLI: tables that read well, plain text when piped."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from runyard.status import RunStatus
from runyard.store.base import RunRecord

_STATUS_STYLE = {RunStatus.COMPLETED: "green", RunStatus.FAILED: "red", RunStatus.CANCELED: "yellow",
                 RunStatus.RUNNING: "cyan"}


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def duration(record: RunRecord) -> str:
    if record.start_time is None:
        return "-"
    seconds = (record.end_time or time.time()) - record.start_time
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def status_text(status: RunStatus) -> str:
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{status.value}[/{style}]" if style else status.value


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return f"{fmt(value[-1])} (last of {len(value)})" if value and not isinstance(value[-1], (list, dict)) \
            else f"list[{len(value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {len(v) if isinstance(v, list) else v}" for k, v in value.items()) + "}"
    return str(value)


def runs_table(records: list[RunRecord], metrics: dict[str, dict[str, Any]]) -> Table:
    keys: list[str] = []
    for m in metrics.values():
        keys += [k for k in m if k not in keys]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("RUN ID", "EXPERIMENT", "STATUS", "TARGET", "SUBMITTED", "DURATION", *keys[:4]):
        table.add_column(col, no_wrap=col == "RUN ID")
    for r in records:
        values = metrics.get(r.run_id, {})
        table.add_row(r.run_id, r.experiment, status_text(r.status), r.target, when(r.created_time), duration(r),
                      *(fmt(values[k]) if k in values else "" for k in keys[:4]))
    return table


def key_value_table(rows: list[tuple[str, Any]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, v if isinstance(v, str) else fmt(v))
    return table


def key_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """A plain table: one header row, then the rows as given."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    return table
