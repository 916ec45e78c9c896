"""`azureml.data.dataset_consumption_config`."""

from runyard.data.dataset import DatasetConsumptionConfig

__all__ = ["DatasetConsumptionConfig"]
