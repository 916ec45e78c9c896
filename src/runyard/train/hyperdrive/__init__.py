"""`azureml.train.hyperdrive` under its service path: `from runyard.train.hyperdrive import ...`."""

from runyard.hyperdrive import *  # noqa: F403
from runyard.hyperdrive import __all__ as _sweep_names
from runyard.train.hyperdrive.run import HyperDriveRun

__all__ = sorted([*_sweep_names, "HyperDriveRun"])
