"""`runyard env list` / `runyard env prune`: the cached environments of a workspace."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from runyard.environments.cache import EnvironmentCache


def _cache(workspace: Any) -> EnvironmentCache:
    return EnvironmentCache(workspace.path / "environments")


def _age(ts: float) -> str:
    seconds = time.time() - ts
    return f"{seconds / 86400:.1f}d ago" if seconds > 86400 else f"{seconds / 3600:.1f}h ago" if seconds > 3600 \
        else f"{seconds / 60:.0f}m ago"


def cmd_env(args: argparse.Namespace, workspace: Any) -> int:
    from rich.table import Table

    from runyard.cli.render import console

    cache = _cache(workspace)
    if args.env_command == "prune":
        removed = cache.prune(args.older_than * 86400)
        for env in removed:
            print(f"removed {env.digest} ({env.size_bytes / 1e6:.1f} MB, last used {_age(env.last_used)})")
        print(f"{len(removed)} environment(s) removed")
        return 0
    envs = cache.all()
    if getattr(args, "json", False):
        print(json.dumps([{"digest": e.digest, "packages": e.resolved, "sizeBytes": e.size_bytes,
                           "lastUsed": e.last_used, "created": e.created} for e in envs]))
        return 0
    if not envs:
        print("No cached environments. A run with pip_packages / conda_packages builds one.")
        return 0
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("HASH", "PACKAGES", "SIZE", "LAST USED", "CREATED"):
        table.add_column(col)
    for env in envs:
        packages = ", ".join(f"{n}=={v}" for n, v in sorted(env.resolved.items())) or "-"
        table.add_row(env.digest, packages, f"{env.size_bytes / 1e6:.1f} MB", _age(env.last_used), _age(env.created))
    console().print(table)
    return 0


def add_parser(sub: Any) -> None:
    env = sub.add_parser("env", help="cached environments")
    env_sub = env.add_subparsers(dest="env_command", required=True)
    listing = env_sub.add_parser("list", help="cached environments: hash, packages, size, last used")
    listing.add_argument("--json", action="store_true", help="print JSON")
    prune = env_sub.add_parser("prune", help="remove environments not used recently")
    prune.add_argument("--older-than", type=float, default=30.0, help="days since last use (default 30)")
