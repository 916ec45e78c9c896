"""The service's AmlCompute, mapped onto this machine so its set-up code runs unchanged.

`ComputeTarget.create(ws, 'cpu-cluster', AmlCompute.provisioning_configuration(vm_size=..., max_nodes=4))`
registers a local target named 'cpu-cluster' whose node_count is capped at max_nodes; node agents run
on this machine. vm_size and friends are recorded but have no effect (a one-line warning says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runyard.compute.local import LocalCompute
from runyard.errors import InvalidValueError, warn_ignored


@dataclass(frozen=True)
class AmlProvisioningConfiguration:
    vm_size: str = ""
    vm_priority: str = "dedicated"
    min_nodes: int = 0
    max_nodes: int = 4

    def to_config(self) -> dict[str, Any]:
        return {"type": "local", "max_nodes": self.max_nodes, "vm_size": self.vm_size}


class AmlCompute(LocalCompute):
    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated", min_nodes: int = 0,
                                   max_nodes: int | None = None, idle_seconds_before_scaledown: int | None = None,
                                   **_: Any) -> AmlProvisioningConfiguration:
        max_nodes = 4 if max_nodes is None else max_nodes
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
            raise InvalidValueError("max_nodes", max_nodes, "must be an integer >= 1", "pass max_nodes=4")
        if vm_size:
            warn_ignored("vm_size", vm_size, "this target runs its node agents on this machine")
        return AmlProvisioningConfiguration(vm_size, vm_priority, min_nodes, max_nodes)

    @staticmethod
    def supported_vmsizes(workspace: Any, location: str | None = None) -> list[dict[str, Any]]:
        return []
