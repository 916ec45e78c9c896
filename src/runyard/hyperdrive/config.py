"""HyperDriveConfig: a sweep over one training configuration (the service's `azureml.train.hyperdrive`)."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.hyperdrive.policy import EarlyTerminationPolicy, NoTerminationPolicy
from runyard.hyperdrive.sampling import BayesianParameterSampling, ParameterSampling
from runyard.submission import JobConfig


class PrimaryMetricGoal(str, Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValueError(name, value, f"must be an integer from {low} to {high}", f"pass {name}={low}..{high}")
    return value


class HyperDriveConfig:
    def __init__(self, hyperparameter_sampling: ParameterSampling, primary_metric_name: str,
                 primary_metric_goal: PrimaryMetricGoal | str, max_total_runs: int,
                 max_concurrent_runs: int | None = None, max_duration_minutes: float = 10080,
                 policy: EarlyTerminationPolicy | None = None, estimator: Any = None, run_config: Any = None,
                 seed: int | None = None, **_: Any) -> None:
        if not isinstance(hyperparameter_sampling, ParameterSampling):
            raise InvalidTypeError("hyperparameter_sampling", hyperparameter_sampling, "is not a parameter sampling",
                                   "pass RandomParameterSampling({...}) or GridParameterSampling({...})")
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise InvalidValueError("primary_metric_name", primary_metric_name, "must name a logged metric",
                                    "pass the name the script logs, e.g. 'accuracy'")
        try:
            self.goal = PrimaryMetricGoal(getattr(primary_metric_goal, "value", primary_metric_goal))
        except ValueError:
            raise InvalidValueError("primary_metric_goal", primary_metric_goal, "is not a goal",
                                    "pass PrimaryMetricGoal.MAXIMIZE or PrimaryMetricGoal.MINIMIZE") from None
        self.max_total_runs = _int_in("max_total_runs", max_total_runs, 1, 1000)
        concurrent = min(max_total_runs, 100) if max_concurrent_runs is None else max_concurrent_runs
        self.max_concurrent_runs = _int_in("max_concurrent_runs", concurrent, 1, 100)
        if isinstance(max_duration_minutes, bool) or not isinstance(max_duration_minutes, (int, float)) \
                or not math.isfinite(max_duration_minutes) or max_duration_minutes <= 0:
            raise InvalidValueError("max_duration_minutes", max_duration_minutes, "must be a positive number",
                                    "pass max_duration_minutes=60")
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy or NoTerminationPolicy()
        if not isinstance(self.policy, EarlyTerminationPolicy):
            raise InvalidTypeError("policy", policy, "is not an early termination policy",
                                   "pass BanditPolicy(...), MedianStoppingPolicy(), TruncationSelectionPolicy(...)")
        if isinstance(hyperparameter_sampling, BayesianParameterSampling) and self.policy.kind != "none":
            raise InvalidValueError("policy", type(self.policy).__name__, "cannot be used with Bayesian sampling",
                                    "pass policy=None (Bayesian sampling learns from every run)")
        config = estimator if estimator is not None else run_config
        if not isinstance(config, JobConfig):
            raise InvalidTypeError("estimator", config, "is not a run configuration",
                                   "pass estimator=PyTorch(...) or run_config=ScriptRunConfig(...)")
        self.config = config
        self.sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.seed = seed

    # -- submission.SweepConfig -------------------------------------------------------------------
    def trial_config(self) -> Any:
        return self.config

    def sweep_settings(self) -> dict[str, Any]:
        """Every SweepSpec field but the trials' template and compute, which submission fills in."""
        return {"sampling": self.sampling.to_json(), "primary_metric_name": self.primary_metric_name,
                "maximize": self.goal is PrimaryMetricGoal.MAXIMIZE, "max_total_runs": self.max_total_runs,
                "max_concurrent_runs": self.max_concurrent_runs,
                "max_duration_seconds": self.max_duration_minutes * 60, "policy": self.policy.to_json(),
                "seed": self.seed}
