"""`azureml.exceptions`."""

from runyard.errors import *  # noqa: F403
from runyard.errors import __all__ as __all__  # noqa: F401
