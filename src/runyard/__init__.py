"""runyard: PyTorch training scripts as tracked, reproducible runs.

The public API mirrors the service's v1 SDK (`azureml.core`, `azureml.train.dnn`), so code written
for it runs with its import prefix changed. Names load lazily: a training script that only does
`from runyard import Run` imports just what logging needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ActivityFailedException": "runyard.errors",
    "AmlCompute": "runyard.compute.aml",
    "ComputeTarget": "runyard.compute.base",
    "ComputeTargetException": "runyard.errors",
    "CondaDependencies": "runyard.environments",
    "DataReference": "runyard.data.data_reference",
    "Dataset": "runyard.data.dataset",
    "Datastore": "runyard.data.datastore",
    "Environment": "runyard.environments",
    "Estimator": "runyard.train.estimator",
    "Experiment": "runyard.experiment",
    "Gloo": "runyard.runconfig",
    "Model": "runyard.models.registry",
    "Mpi": "runyard.runconfig",
    "MpiConfiguration": "runyard.runconfig",
    "Nccl": "runyard.runconfig",
    "PyTorch": "runyard.train.dnn",
    "PyTorchConfiguration": "runyard.runconfig",
    "Run": "runyard.run",
    "RunConfiguration": "runyard.runconfig",
    "RunStatus": "runyard.status",
    "RunyardError": "runyard.errors",
    "ScriptRunConfig": "runyard.script_run_config",
    "Workspace": "runyard.workspace",
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from runyard.compute.aml import AmlCompute
    from runyard.compute.base import ComputeTarget
    from runyard.data.data_reference import DataReference
    from runyard.data.dataset import Dataset
    from runyard.data.datastore import Datastore
    from runyard.environments import CondaDependencies, Environment
    from runyard.errors import ActivityFailedException, ComputeTargetException, RunyardError
    from runyard.experiment import Experiment
    from runyard.models.registry import Model
    from runyard.run import Run
    from runyard.runconfig import Gloo, Mpi, MpiConfiguration, Nccl, PyTorchConfiguration, RunConfiguration
    from runyard.script_run_config import ScriptRunConfig
    from runyard.status import RunStatus
    from runyard.train.dnn import PyTorch
    from runyard.train.estimator import Estimator
    from runyard.workspace import Workspace
