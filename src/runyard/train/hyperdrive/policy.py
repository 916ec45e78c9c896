"""`azureml.train.hyperdrive.policy`."""

from runyard.hyperdrive.policy import *  # noqa: F403
