"""Data access: datastores and references to paths in them (the service's `azureml.data`)."""

from runyard.data.data_reference import DataReference
from runyard.data.dataset import DatasetConsumptionConfig, FileDataset, TabularDataset
from runyard.data.datastore import Datastore

__all__ = ["DataReference", "DatasetConsumptionConfig", "Datastore", "FileDataset", "TabularDataset"]
