"""`azureml.core.compute`."""

from runyard.compute import AmlCompute, ComputeTarget, LocalCompute

__all__ = ["AmlCompute", "ComputeTarget", "LocalCompute"]
