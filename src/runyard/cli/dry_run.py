"""`runyard submit ... --dry-run`: what submitting would start, printed, with nothing written or started."""

from __future__ import annotations

import shlex
from typing import Any


def print_dry_run(ws: Any, est: Any, experiment: str, target_name: str | None) -> int:
    from runyard.compute.registry import get_target
    from runyard.run_folder import RunFolder

    name = target_name or "local"
    spec = est.job_spec(experiment, name)
    target = get_target(ws.folder, name)
    target.check(spec)  # the refusals a submit would give, first
    folder = RunFolder(ws.folder.path / "runs" / "DRY-RUN")
    dry = target.dry_run(folder, spec)
    print("# the run's supervisor (detached)")
    print(shlex.join(dry.supervisor))
    print("# what it starts")
    if isinstance(dry.request, str):  # a batch script (Slurm)
        print(dry.request.rstrip())
    elif isinstance(dry.request, tuple) and all(isinstance(c, tuple) for c in dry.request):
        for command in dry.request:
            print(shlex.join(command))
    else:
        print(dry.request)
    return 0
