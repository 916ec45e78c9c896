"""`azureml.core.conda_dependencies`."""

from runyard.environments import CondaDependencies

__all__ = ["CondaDependencies"]
