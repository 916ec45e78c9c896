"""`azureml.core.model`."""

from runyard.models.registry import Model
from runyard.models.webservice import InferenceConfig

__all__ = ["InferenceConfig", "Model"]
