"""`azureml.train.hyperdrive.sampling`."""

from runyard.hyperdrive.sampling import *  # noqa: F403
