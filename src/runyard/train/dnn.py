"""The PyTorch estimator (the service's `azureml.train.dnn`)."""

from __future__ import annotations

from typing import Any

from runyard.runconfig import Gloo, Mpi, Nccl
from runyard.spec import Backend
from runyard.train.estimator import Estimator


class PyTorch(Estimator):
    """An Estimator whose environment has PyTorch (the interpreter's own torch is reused).

    With distributed_backend='mpi' Horovod is expected in the environment, as the service added it."""

    _framework = "PyTorch"

    def __init__(self, source_directory: Any, **kwargs: Any) -> None:
        super().__init__(source_directory, **kwargs)


__all__ = ["Gloo", "Mpi", "Nccl", "PyTorch", "Backend"]
