"""Compute targets by name: 'local' always, others attached in the workspace config."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runyard.errors import ComputeTargetException, InvalidValueError

if TYPE_CHECKING:
    from runyard.compute.base import ComputeTarget
    from runyard.layout import ConfiguredWorkspace

# backend type -> "module:Class", loaded lazily so an unused backend costs nothing
BACKENDS = {"local": "runyard.compute.local:LocalCompute", "slurm": "runyard.compute.slurm:SlurmCompute",
            "ray": "runyard.compute.ray:RayCompute"}


def _backend(kind: str) -> type[ComputeTarget]:
    if kind not in BACKENDS:
        raise ComputeTargetException(f"compute type={kind!r} is not supported. Fix: use one of {sorted(BACKENDS)}")
    module, _, cls = BACKENDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def _build(workspace: ConfiguredWorkspace, name: str, config: dict[str, Any]) -> ComputeTarget:
    cls = _backend(config.get("type", "local"))
    target = object.__new__(cls)
    cls.__init__(target, workspace, name, {k: v for k, v in config.items() if k != "type"})
    return target


def all_targets(workspace: ConfiguredWorkspace) -> dict[str, ComputeTarget]:
    # the local target's settings are what `runyard compute update local` recorded for this box
    targets = {"local": _build(workspace, "local", {"type": "local",
                                                    **workspace.config_section("box").get("local", {})})}
    for name, config in workspace.config_section("compute_targets").items():
        targets[name] = _build(workspace, name, config)
    return targets


def get_target(workspace: ConfiguredWorkspace, name: str) -> ComputeTarget:
    if not isinstance(name, str):
        raise InvalidValueError("compute_target", name, "must be a name", "pass 'local' or an attached target's name")
    targets = all_targets(workspace)
    if name not in targets:
        raise ComputeTargetException(
            f"compute_target={name!r}: no compute target of that name in workspace {workspace.name!r} "
            f"(known: {', '.join(sorted(targets))}). Fix: pass one of those, or create it with "
            "ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...))")
    return targets[name]


def attach(workspace: ConfiguredWorkspace, name: str, configuration: Any) -> ComputeTarget:
    if name == "local":
        raise InvalidValueError("name", name, "is the built-in local target", "choose another name")
    config = configuration.to_config() if hasattr(configuration, "to_config") else None
    if not isinstance(config, dict) or "type" not in config:
        raise InvalidValueError("configuration", configuration, "is not a compute configuration",
                                "pass AmlCompute.provisioning_configuration(...) or a backend's attach_configuration()")
    _backend(config["type"])
    workspace.update_config("compute_targets", name, config)
    return _build(workspace, name, config)


def detach(workspace: ConfiguredWorkspace, name: str) -> None:
    if name == "local":
        raise InvalidValueError("name", name, "is the built-in local target and cannot be removed", "detach another")
    workspace.update_config("compute_targets", name, None)
