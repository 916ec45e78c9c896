"""`azureml.train.hyperdrive` under its service path: `from runyard.train.hyperdrive import ...`."""

from runyard.hyperdrive import *  # noqa: F403
from runyard.hyperdrive import __all__  # noqa: F401
