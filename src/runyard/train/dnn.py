"""The PyTorch estimator (the service's `azureml.train.dnn`)."""

from __future__ import annotations

from typing import Any

from runyard.errors import InvalidValueError
from runyard.runconfig import Gloo, Mpi, Nccl
from runyard.spec import Backend
from runyard.train.estimator import Estimator


class PyTorch(Estimator):
    """An Estimator whose environment has PyTorch (the interpreter's own torch is reused).

    With distributed_backend='mpi' Horovod is expected in the environment, as the service added it."""

    _framework = "PyTorch"

    def __init__(self, source_directory: Any, **kwargs: Any) -> None:
        super().__init__(source_directory, **kwargs)


class _OtherFramework:
    """The service's estimators of other frameworks: refused with the way to run such a script here."""

    def __init__(self, source_directory: Any = None, **_: Any) -> None:
        raise InvalidValueError("estimator", type(self).__name__, "is a framework runyard does not provide",
                                "run the script with Estimator(source_directory, entry_script=..., "
                                f"pip_packages=[{type(self).__name__.lower()!r}]) or ScriptRunConfig")


class TensorFlow(_OtherFramework):
    pass


class Chainer(_OtherFramework):
    pass


__all__ = ["Backend", "Chainer", "Gloo", "Mpi", "Nccl", "PyTorch", "TensorFlow"]
