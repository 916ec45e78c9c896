"""Hyperparameter sweeps (the service's `azureml.train.hyperdrive`)."""

from runyard.hyperdrive.config import HyperDriveConfig, PrimaryMetricGoal
from runyard.hyperdrive.parameter_expressions import (choice, lognormal, loguniform, normal, qlognormal,
                                                      qloguniform, qnormal, quniform, randint, uniform)
from runyard.hyperdrive.policy import (BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy,
                                       NoTerminationPolicy, TruncationSelectionPolicy)
from runyard.hyperdrive.run import HyperDriveRun
from runyard.hyperdrive.sampling import BayesianParameterSampling, GridParameterSampling, RandomParameterSampling

__all__ = ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy", "GridParameterSampling",
           "HyperDriveConfig", "HyperDriveRun", "MedianStoppingPolicy", "NoTerminationPolicy", "PrimaryMetricGoal",
           "RandomParameterSampling", "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal",
           "qlognormal", "qloguniform", "qnormal", "quniform", "randint", "uniform"]
