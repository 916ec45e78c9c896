"""Run builders (the service's `azureml.train`)."""
