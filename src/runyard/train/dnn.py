"""The PyTorch estimator (the service's `azureml.train.dnn`)."""

from __future__ import annotations

import importlib.util
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

    def _implied_packages(self) -> tuple[str, ...]:
        """torchvision, as the service's PyTorch images held it: added (the release matching the base torch) only
        when the source folder imports it and the environment has none, so other runs stay as fast as before."""
        from runyard.environments.curated import base_torch_version, matching_torchvision
        from runyard.train.source_imports import imports_module

        if importlib.util.find_spec("torchvision") is not None or not imports_module(self.source_directory,
                                                                                      "torchvision"):
            return ()
        torch = base_torch_version()
        vision = matching_torchvision(torch) if torch else None
        return (vision,) if vision else ()


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
