"""`azureml.train.hyperdrive.run`."""

from runyard.hyperdrive.config import PrimaryMetricGoal
from runyard.hyperdrive.run import HyperDriveRun

__all__ = ["HyperDriveRun", "PrimaryMetricGoal"]
