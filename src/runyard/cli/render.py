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


def runs_table(records: list[RunRecord], metrics: dict[str, dict[str, Any]], width: int = PIPED_WIDTH) -> Table:
    keys: list[str] = []
    for m in metrics.values():
        keys += [k for k in m if k not in keys]
    # column priorities: the id (whole: it is what you copy), status, age and duration always; the target only
    # where some run is not local; at most three metrics, each cut with an ellipsis rather than wrapped
    show_target = any(r.target != "local" for r in records)
    show_owner = len({r.owner for r in records}) > 1  # who submitted, once runs come from several people
    id_width = max((len(r.run_id) for r in records), default=6)
    experiment_width = min(14, max((len(r.experiment) for r in records), default=10))
    used = id_width + experiment_width + 10 + 9 + 8 + (11 if show_target else 0) + (11 if show_owner else 0) + 4  # + the gaps between
    shown = [k for i, k in enumerate(keys[:3]) if used + 13 * (i + 1) <= width]  # metrics while they fit
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("RUN ID", no_wrap=True, min_width=min(id_width, 40))
    table.add_column("EXPERIMENT", max_width=experiment_width, overflow="ellipsis", no_wrap=True)
    table.add_column("STATUS", no_wrap=True, min_width=9)
    if show_target:
        table.add_column("TARGET", max_width=10, overflow="ellipsis", no_wrap=True)
    if show_owner:
        table.add_column("BY", max_width=10, overflow="ellipsis", no_wrap=True)
    table.add_column("SUBMITTED", no_wrap=True, min_width=8)
    table.add_column("DURATION", no_wrap=True, min_width=6)
    for key in shown:
        table.add_column(key.upper(), max_width=12, overflow="ellipsis", no_wrap=True)
    for r in records:
        values = metrics.get(r.run_id, {})
        cells = [r.run_id, r.experiment, status_text(r.status), *([r.target] if show_target else []),
                 *([r.owner] if show_owner else []), ago(r.created_time), duration(r), *(fmt(values[k]) if k in values else "" for k in shown)]
        table.add_row(*cells)
    return table


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
