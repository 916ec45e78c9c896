"""Registered models and local web services (the service's `azureml.core.model` / `webservice`)."""

from runyard.models.registry import Model
from runyard.models.webservice import InferenceConfig, LocalWebservice, WebserviceException

__all__ = ["InferenceConfig", "LocalWebservice", "Model", "WebserviceException"]
