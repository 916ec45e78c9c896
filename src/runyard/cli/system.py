"""`runyard metrics RUN --system [--json]`: what the hardware did during a run, per node."""

from __future__ import annotations

import json
from typing import Any


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
    return 0
