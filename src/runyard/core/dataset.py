"""`azureml.core.dataset`."""

from runyard.data.dataset import Dataset

__all__ = ["Dataset"]
