"""`azureml.exceptions`."""

from runyard.errors import *  # noqa: F403
from runyard.errors import __all__ as __all__  # noqa: F401
from runyard.models.webservice import WebserviceException  # noqa: E402,F401 - the service had it here too
