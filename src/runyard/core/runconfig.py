"""`azureml.core.runconfig`."""

from runyard.environments import CondaDependencies
from runyard.runconfig import (DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, DockerConfiguration, MpiConfiguration,
                               PyTorchConfiguration, RunConfiguration)

__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "CondaDependencies", "DockerConfiguration", "MpiConfiguration",
           "PyTorchConfiguration", "RunConfiguration"]
