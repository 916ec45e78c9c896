"""Hyperparameter sweeps (the service's `azureml.train.hyperdrive`, whose HyperDriveRun lives with the facade
in runyard.train.hyperdrive.run)."""

from runyard.hyperdrive.config import HyperDriveConfig, PrimaryMetricGoal
from runyard.hyperdrive.parameter_expressions import (choice, lognormal, loguniform, normal, qlognormal,
                                                      qloguniform, qnormal, quniform, randint, uniform)
from runyard.hyperdrive.policy import (BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy,
                                       NoTerminationPolicy, TruncationSelectionPolicy)
from runyard.hyperdrive.sampling import BayesianParameterSampling, GridParameterSampling, RandomParameterSampling

__all__ = ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy", "GridParameterSampling",
           "HyperDriveConfig", "MedianStoppingPolicy", "NoTerminationPolicy", "PrimaryMetricGoal",
           "RandomParameterSampling", "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal",
           "qlognormal", "qloguniform", "qnormal", "quniform", "randint", "uniform"]
