"""Registered models (the service's `azureml.core.model`)."""

from runyard.models.registry import Model

__all__ = ["Model"]
