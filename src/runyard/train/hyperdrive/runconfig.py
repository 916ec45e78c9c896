"""`azureml.train.hyperdrive.runconfig`."""

from runyard.hyperdrive.config import HyperDriveConfig, PrimaryMetricGoal

# the 1.0-era name of HyperDriveConfig, kept by the service as an alias
HyperDriveRunConfig = HyperDriveConfig

__all__ = ["HyperDriveConfig", "HyperDriveRunConfig", "PrimaryMetricGoal"]
