"""`azureml.core.model`."""

from runyard.models.deployment import InferenceConfig
from runyard.models.registry import Model

__all__ = ["InferenceConfig", "Model"]
