"""`runyard metrics RUN --system [--json]`: what the hardware did during a run, per node."""

from __future__ import annotations

import json
from typing import Any

LAYOUT_PREFIX = "runyard.system.node"


def rank_lines(properties: dict[str, str]) -> list[str]:
    """'rank R: pid P on node N (host), GPU ...' from what each node's sampler recorded."""
    lines = []
    for key in sorted((k for k in properties if k.startswith(LAYOUT_PREFIX)),
                      key=lambda k: int(k.removeprefix(LAYOUT_PREFIX) or 0)):
        try:
            layout = json.loads(properties[key])
        except ValueError:
            continue
        for rank, seen in sorted(layout.get("ranks", {}).items(), key=lambda kv: int(kv[0])):
            gpus = ", ".join(seen.get("gpus") or []) or "none"
            lines.append(f"rank {rank}: pid {seen.get('pid')} on node {layout.get('node')} "
                         f"({layout.get('host', '?')}), GPUs {gpus}")
    return lines


def print_system(run: Any, name: str | None, as_json: bool) -> int:
    from runyard.cli.render import console, system_table

    system = run.get_system_metrics(name)
    if as_json:
        print(json.dumps(system))
    elif not system:
        print("No system metrics (yet): each node writes them every 10 s while the run goes on "
              "(none at all when RUNYARD_SYSTEM_METRICS=0).")
    else:
        console().print(system_table(system))
        for line in rank_lines(run.get_properties()):
            print(line)
    return 0
