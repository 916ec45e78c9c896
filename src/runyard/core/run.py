"""`azureml.core.run`."""

from runyard.run import Run, _OfflineRun

__all__ = ["Run", "_OfflineRun"]
