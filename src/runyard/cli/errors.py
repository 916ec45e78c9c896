"""Errors in the words of the command line: the API's checks name Python fields (`distributed_backend=`,
`pip_packages=[...]`); a user of `runyard submit` typed flags, so the message names the flags instead, and a
script name that does not exist gets the nearest file names of the folder."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from runyard.errors import ValidationError

# API field -> the `runyard submit` flag that sets it
FLAGS = {
    "source_directory": "--source-dir",
    "entry_script": "SCRIPT",
    "script": "SCRIPT",
    "distributed_backend": "--backend",
    "communicator": "--backend",
    "process_count_per_node": "--procs-per-node",
    "node_count": "--nodes",
    "pip_packages": "--pip",
    "compute_target": "--target",
    "use_gpu": "--gpu",
    "max_run_duration_seconds": "--max-duration",
    "custom_docker_image": "--image",
    "shm_size": "--shm-size",
    "cpus_per_process": "--cpus",
    "memory": "--memory",
    "priority": "--priority",
}

# the API's phrasings in a fix, and the same in flags
_REWRITES = [
    (re.compile(r"distributed_backend='(\w+)'(?: or '(\w+)')?"),
     lambda m: f"--backend {m.group(1)}" + (f" or --backend {m.group(2)}" if m.group(2) else "")),
    (re.compile(r"(, | or )'(gloo|nccl|mpi)'"), lambda m: f"{m.group(1)}--backend {m.group(2)}"),
    (re.compile(r"pip_packages=\['([^']+)'\]"), lambda m: f"--pip {m.group(1)}"),
    (re.compile(r"use_gpu=True"), lambda m: "--gpu"),
    (re.compile(r"process_count_per_node=(\w+)"), lambda m: f"--procs-per-node {m.group(1)}"),
    (re.compile(r"node_count=(\w+)"), lambda m: f"--nodes {m.group(1)}"),
    (re.compile(r"custom_docker_image='([^']+)'"), lambda m: f"--image {m.group(1)}"),
    (re.compile(r"\b(?:relative to )?source_directory\b"), lambda m: m.group(0).replace("source_directory",
                                                                                        "--source-dir")),
]


def nearest_scripts(folder: Path, name: str, limit: int = 3) -> list[str]:
    """Python files of `folder` (and one level down) whose names are close to `name`."""
    try:
        files = [p.relative_to(folder).as_posix() for pattern in ("*.py", "*/*.py") for p in folder.glob(pattern)]
    except OSError:
        return []
    return difflib.get_close_matches(name, files, n=limit, cutoff=0.6)


def in_cli_words(error: ValidationError, source_dir: str | None = None) -> str:
    if error.field not in FLAGS:
        return str(error)
    field = FLAGS[error.field]
    fix, problem = error.fix, error.problem
    for pattern, replacement in _REWRITES:
        fix, problem = pattern.sub(replacement, fix), pattern.sub(replacement, problem)
    if error.field in ("entry_script", "script") and "does not exist" in error.problem:
        folder = Path(source_dir or ".").expanduser().resolve()
        close = nearest_scripts(folder, str(error.value))
        where = f" in {folder}"
        hint = f"did you mean {' or '.join(close)}? Else check" if close else "check"
        fix = f"{hint} the name of the script{where}, or pass the folder that holds it with --source-dir FOLDER"
        return f"{field} {error.value!r} does not exist{where}. Fix: {fix}"
    value = "not given" if error.value is None else error.value if field.startswith("--") else repr(error.value)
    return f"{field} {value}: {problem}. Fix: {fix}"
