"""`runyard tensorboard RUN...`: TensorBoard on the event files runs wrote under ./logs (or anywhere)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from runyard.errors import InvalidValueError, RunyardError


def event_dirs(run: Any) -> list[Path]:
    """Folders of a run that hold TensorBoard event files."""
    return sorted({p.parent for p in run.folder.working_dir.rglob("events.out.tfevents.*")})


def tensorboard_command(runs: list[Any], port: int) -> list[str]:
    exe = shutil.which("tensorboard") or str(Path(sys.executable).parent / "tensorboard")
    if not Path(exe).exists():
        raise RunyardError("TensorBoard is not installed. Fix: pip install 'runyard[tensorboard]'")
    specs = []
    for run in runs:
        dirs = event_dirs(run)
        if not dirs:
            raise InvalidValueError("run", run.id, "has no TensorBoard event files",
                                    "write them from the script with SummaryWriter('logs/...')")
        specs.append(f"{run.id}:{run.folder.working_dir}")
    return [exe, "--logdir_spec", ",".join(specs), "--host", "127.0.0.1", "--port", str(port)]
