"""Registered models and deployed web services (the service's `azureml.core.model` / `webservice`)."""

from runyard.models.deployment import InferenceConfig
from runyard.models.registry import Model
from runyard.models.webservice import AciWebservice, AksWebservice, LocalWebservice, Webservice, WebserviceException

__all__ = ["AciWebservice", "AksWebservice", "InferenceConfig", "LocalWebservice", "Model", "Webservice",
           "WebserviceException"]
