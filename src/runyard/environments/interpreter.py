"""Choosing the interpreter a run's ranks use: the base one, or a cached uv layer over it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from runyard.spec import EnvironmentSpec


def prepare_interpreter(env: EnvironmentSpec, cache_root: Path, log_file: Path,
                        log: Callable[[str], None]) -> tuple[str, dict[str, str]]:
    """Returns (interpreter path, resolved packages name -> version)."""
    if env.user_managed:
        interpreter = env.interpreter if env.interpreter and env.interpreter != "python" else sys.executable
        log(f"user-managed environment: {interpreter} (nothing installed)")
        return interpreter, {}
    if not env.needs_build():
        log(f"base interpreter {sys.executable}: no packages requested")
        return sys.executable, {}
    from runyard.environments.build import ensure_environment
    from runyard.environments.cache import EnvironmentCache

    built = ensure_environment(env, EnvironmentCache(cache_root), log_file, log)
    return str(built.interpreter), built.resolved


def path_with_interpreter(interpreter: str, path: str | None) -> str:
    """PATH with the run's interpreter folder (then the base's, for torchrun and friends) first, so
    `python` in a command or in a script's subprocess means the run's environment."""
    import os

    folders = [os.path.dirname(interpreter), os.path.dirname(sys.executable),
               *(path or os.defpath).split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(f for f in folders if f))
