"""`azureml.core.environment`."""

from runyard.environments import CondaDependencies, Environment

__all__ = ["CondaDependencies", "Environment"]
