"""`azureml.core.runconfig`."""

from runyard.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration

__all__ = ["MpiConfiguration", "PyTorchConfiguration", "RunConfiguration"]
