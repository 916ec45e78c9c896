"""`azureml.core.webservice`."""

from runyard.models.webservice import AciWebservice, AksWebservice, LocalWebservice, Webservice, WebserviceException

__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice", "WebserviceException"]
