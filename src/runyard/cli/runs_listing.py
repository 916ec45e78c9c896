"""`runyard runs`: the workspace it reads (named first: runs go to the workspace found from the current folder),
then a table of runs with a sweep's trials folded under it, each with its hyperparameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from runyard.cli.render import PIPED_WIDTH, ago, console, duration, fmt, status_text
from runyard.status import RunStatus
from runyard.store.base import PARENT_RUN_PROPERTY, RunRecord

MAX_METRIC_COLUMNS = 3
TRIAL_MARK = "└ "


def workspace_line(ws: Any) -> str:
    where = ws.url if getattr(ws, "is_remote", False) else str(ws.path)
    return f"Workspace {ws.name} ({where})"


def hyperparameters(record: RunRecord) -> str:
    try:
        values = json.loads(record.properties.get("hyperparameters", "{}"))
    except ValueError:
        return ""
    return " ".join(f"{k.lstrip('-')}={fmt(v)}" for k, v in values.items())


def folded(records: list[RunRecord]) -> list[tuple[RunRecord, int]]:
    """(record, depth): each child right under its parent when the parent is listed, in the listing's order."""
    listed = {r.run_id for r in records}
    children: dict[str, list[RunRecord]] = {}
    for r in records:
        parent = r.properties.get(PARENT_RUN_PROPERTY)
        if parent in listed:
            children.setdefault(parent, []).append(r)
    out: list[tuple[RunRecord, int]] = []
    for r in records:
        if r.properties.get(PARENT_RUN_PROPERTY) in listed:
            continue
        out.append((r, 0))
        out += [(c, 1) for c in children.get(r.run_id, [])]
    return out


def runs_table(records: list[RunRecord], metrics: dict[str, dict[str, Any]], width: int = PIPED_WIDTH) -> Table:
    rows = folded(records)
    keys: list[str] = []
    for m in metrics.values():
        keys += [k for k in m if k not in keys]
    params = {r.run_id: hyperparameters(r) for r, depth in rows if depth}
    # the id (whole: it is what you copy), status, age and duration always; the target only where some run is not
    # local; each column as wide as its header and values need, then metrics while they fit
    show_target = any(r.target != "local" for r in records)
    show_owner = len({r.owner for r in records}) > 1  # who submitted, once runs come from several people
    show_params = any(params.values())
    id_width = max((len(r.run_id) + len(TRIAL_MARK) * d for r, d in rows), default=6)
    experiment_width = min(24, max(len("EXPERIMENT"), *(len(r.experiment) for r in records)))
    params_width = min(30, max((len(p) for p in params.values()), default=0))
    used = (id_width + experiment_width + 10 + 9 + 8 + (11 if show_target else 0) + (11 if show_owner else 0)
            + (params_width + 2 if show_params else 0) + 4)
    shown: list[str] = []
    for key in keys[:MAX_METRIC_COLUMNS]:
        column = min(max(len(key), 8), 16) + 2
        if used + column > width:
            break
        shown.append(key)
        used += column
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("RUN ID", no_wrap=True, min_width=min(id_width, 48))
    table.add_column("EXPERIMENT", max_width=experiment_width, overflow="ellipsis", no_wrap=True)
    table.add_column("STATUS", no_wrap=True, min_width=9)
    if show_target:
        table.add_column("TARGET", max_width=10, overflow="ellipsis", no_wrap=True)
    if show_owner:
        table.add_column("BY", max_width=10, overflow="ellipsis", no_wrap=True)
    table.add_column("SUBMITTED", no_wrap=True, min_width=8)
    table.add_column("DURATION", no_wrap=True, min_width=8)
    if show_params:
        table.add_column("HYPERPARAMETERS", max_width=max(params_width, 15), overflow="ellipsis", no_wrap=True)
    for key in shown:
        table.add_column(key.upper(), max_width=min(max(len(key), 8), 16), overflow="ellipsis", no_wrap=True)
    for r, depth in rows:
        values = metrics.get(r.run_id, {})
        table.add_row(TRIAL_MARK * depth + r.run_id, r.experiment, status_text(r.status),
                      *([r.target] if show_target else []), *([r.owner] if show_owner else []),
                      ago(r.created_time), duration(r), *([params.get(r.run_id, "")] if show_params else []),
                      *(fmt(values[k]) if k in values else "" for k in shown))
    return table


def cmd_runs(args: argparse.Namespace, ws: Any) -> int:
    status = RunStatus(args.status) if args.status else None
    expressions = [e for e in (args.filter, f"owner = '{args.owner}'" if args.owner else None) if e]
    records = ws.backend.list_runs(experiment=args.experiment, status=status, limit=args.limit,
                                   filter_string=" and ".join(expressions) or None)
    table = ws.backend.run_metrics([r.run_id for r in records]) if records and not args.no_metrics else {}
    metrics = {r.run_id: table[r.run_id].latest() if r.run_id in table else {} for r in records}
    if args.json:
        print(json.dumps([{"runId": r.run_id, "experiment": r.experiment, "status": r.status.value,
                           "target": r.target, "owner": r.owner, "metrics": metrics[r.run_id],
                           "parent": r.properties.get(PARENT_RUN_PROPERTY),
                           **({"statusDetail": r.status_detail} if r.status_detail else {})} for r in records],
                         default=str))
        return 0
    print(workspace_line(ws), flush=True)  # whole, never folded: a path is copied from here
    out = console()
    if not records:
        print("No runs yet. Submit one: runyard submit train.py")
        return 0
    out.print(runs_table(records, metrics, out.width))
    for r in records:  # what each queued run waits for, under the table
        if r.status is RunStatus.QUEUED and r.status_detail:
            out.print(f"{r.run_id} Queued: {r.status_detail}", markup=False, overflow="fold")
    return 0
