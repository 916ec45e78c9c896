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


# a table piped to a file or another program fits this many columns (a terminal's own width otherwise)
PIPED_WIDTH = 100


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH, highlight=False)


def ago(ts: float | None) -> str:
    """How long ago, in the unit that reads best: 'just now', '5m ago', '3h ago', '2d ago'."""
    if not ts:
        return "-"
    seconds = time.time() - ts
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


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


def system_table(system: dict[str, dict[str, dict[str, list[float]]]]) -> Table:
    """A row per system series: its node, last 10-second mean, and the lowest and highest value seen."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("METRIC", "NODE", "LAST", "MIN", "MAX", "POINTS"):
        table.add_column(header, no_wrap=header != "METRIC")
    for key, nodes in sorted(system.items()):
        for node, s in sorted(nodes.items()):
            table.add_row(key, node.removeprefix("node "), fmt(s["mean"][-1]), fmt(min(s["min"])), fmt(max(s["max"])),
                          str(len(s["time"])))
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
