"""`azureml.data.dataset_factory`: the factories behind Dataset.File and Dataset.Tabular."""

from runyard.data.dataset import Dataset

FileDatasetFactory = Dataset.File
TabularDatasetFactory = Dataset.Tabular

__all__ = ["FileDatasetFactory", "TabularDatasetFactory"]
