"""Compute targets (the service's `azureml.core.compute`)."""

from runyard.compute.aml import AmlCompute
from runyard.compute.base import ComputeTarget
from runyard.compute.local import LocalCompute
from runyard.errors import ComputeTargetException

__all__ = ["AmlCompute", "ComputeTarget", "ComputeTargetException", "LocalCompute"]
