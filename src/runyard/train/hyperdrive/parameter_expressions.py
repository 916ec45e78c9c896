"""`azureml.train.hyperdrive.parameter_expressions`."""

from runyard.hyperdrive.parameter_expressions import *  # noqa: F403
