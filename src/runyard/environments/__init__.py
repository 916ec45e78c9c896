"""Python environments: what a run asks for (the service's Environment / CondaDependencies), the curated
names, and how they are built and cached (uv layers over the base interpreter) and chosen for a run.

Names load lazily: the supervisor imports `runyard.environments.interpreter` without paying for the
definitions' YAML and requirement parsing."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'runyard.environments' has no attribute {name!r}")
    return getattr(importlib.import_module("runyard.environments.definition"), name)
