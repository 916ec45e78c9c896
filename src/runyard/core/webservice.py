"""`azureml.core.webservice`."""

from runyard.models.webservice import LocalWebservice, WebserviceException

__all__ = ["LocalWebservice", "WebserviceException"]
