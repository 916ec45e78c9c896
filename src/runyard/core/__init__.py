"""The service's `azureml.core` names, under `runyard.core`."""

from runyard import __version__ as VERSION

from runyard.compute.base import ComputeTarget
from runyard.data.dataset import Dataset
from runyard.data.datastore import Datastore
from runyard.environments import Environment
from runyard.experiment import Experiment
from runyard.models.registry import Model
from runyard.models.webservice import Webservice
from runyard.run import Run
from runyard.runconfig import RunConfiguration
from runyard.script_run_config import ScriptRunConfig
from runyard.workspace import Workspace

__all__ = ["ComputeTarget", "Dataset", "Datastore", "Environment", "Experiment", "Model", "Run", "RunConfiguration",
           "ScriptRunConfig", "VERSION", "Webservice", "Workspace"]
