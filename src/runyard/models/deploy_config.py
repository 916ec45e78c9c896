"""Deployment configurations: `LocalWebservice / AciWebservice / AksWebservice.deploy_configuration(...)`.

Every kind deploys a scoring process on this machine. What only a cloud container could honour (cores,
memory, DNS names, SSL...) is recorded and named in a one-line warning; tags, description and auth are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError, warn_ignored


class ServiceKind(str, Enum):
    LOCAL = "Local"
    ACI = "ACI"
    AKS = "AKS"


@dataclass(frozen=True)
class DeploymentConfiguration:
    kind: ServiceKind = ServiceKind.LOCAL
    port: int | None = None
    auth_enabled: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None


def check_port(port: Any) -> int | None:
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise InvalidValueError("port", port, "is not a TCP port", "pass a port from 1 to 65535, or None")
    return port


def make_configuration(kind: ServiceKind, port: int | None, auth_enabled: Any, tags: Any, description: Any,
                       ignored: dict[str, Any]) -> DeploymentConfiguration:
    if auth_enabled is not None and not isinstance(auth_enabled, bool):
        raise InvalidTypeError("auth_enabled", auth_enabled, "must be True or False", "pass auth_enabled=True")
    if tags is not None and not isinstance(tags, dict):
        raise InvalidTypeError("tags", tags, "must be a dict", "pass tags={'key': 'value'}")
    for name, value in ignored.items():
        if value is not None:
            warn_ignored(name, value, f"a {kind.value} service runs as a process on this machine")
    return DeploymentConfiguration(kind, check_port(port), bool(auth_enabled),
                                   {str(k): str(v) for k, v in (tags or {}).items()},
                                   None if description is None else str(description))
