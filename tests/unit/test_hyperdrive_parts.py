"""Sweep pieces without processes: expressions, sampling, argv merging, policies, config checks."""

import math
import random

import pytest

from runyard.errors import RunyardError
from runyard.hyperdrive import (BanditPolicy, BayesianParameterSampling, GridParameterSampling, HyperDriveConfig,
                                MedianStoppingPolicy, RandomParameterSampling, TruncationSelectionPolicy, choice,
                                loguniform, normal, quniform, randint, uniform)
from runyard.hyperdrive.controller import merge_arguments
from runyard.hyperdrive.policy import should_stop
from runyard.hyperdrive.sampling import Sampler


def test_expressions_sample_in_their_ranges():
    rng = random.Random(0)
    for _ in range(200):
        assert 0.1 <= uniform(0.1, 0.2).sample(rng) <= 0.2
        assert math.exp(-5) <= loguniform(-5, -1).sample(rng) <= math.exp(-1)
        assert quniform(0, 10, 2).sample(rng) % 2 == 0
        assert randint(5).sample(rng) in range(5)
        assert choice(16, 32).sample(rng) in (16, 32)
    assert choice([1, 2, 3]).args == (1, 2, 3)


def test_grid_enumerates_every_combination_once():
    sampling = GridParameterSampling({"a": choice(1, 2), "--b": choice("x", "y", "z")})
    sampler = Sampler(sampling.to_json(), goal_maximize=True)
    seen = [sampler.next(i) for i in range(7)]
    assert seen[-1] is None and len({tuple(s.items()) for s in seen[:-1]}) == 6


def test_bayesian_sampler_proposes_within_the_space():
    sampler = Sampler(BayesianParameterSampling({"lr": uniform(0, 1), "bs": choice(8, 16)}).to_json(), True, seed=1)
    for i in range(6):
        params = sampler.next(i)
        assert 0 <= params["lr"] <= 1 and params["bs"] in (8, 16)
        sampler.report(i, params["lr"])


def test_sampled_values_win_over_script_params():
    assert merge_arguments(["--epochs", "5", "--lr", "0.5", "--flag"], {"--lr": 0.1, "bs": 32}) == \
        ["--epochs", "5", "--flag", "--lr", "0.1", "--bs", "32"]


@pytest.mark.parametrize("policy,mine,others,stop", [
    (BanditPolicy(slack_factor=0.1), [0.5, 0.6], [[0.8, 0.9]], True),       # 0.6 < 0.9/1.1
    (BanditPolicy(slack_factor=0.1), [0.8, 0.85], [[0.8, 0.9]], False),
    (BanditPolicy(slack_amount=0.2), [0.5, 0.65], [[0.8, 0.9]], True),      # 0.65 < 0.9 - 0.2
    (BanditPolicy(slack_amount=0.2), [0.5, 0.75], [[0.8, 0.9]], False),
    (BanditPolicy(slack_factor=0.1, delay_evaluation=2), [0.1, 0.1], [[0.9, 0.9]], False),
    (MedianStoppingPolicy(), [0.1, 0.2], [[0.5, 0.6], [0.7, 0.8]], True),
    (TruncationSelectionPolicy(truncation_percentage=50), [0.1], [[0.5], [0.6], [0.7]], True),
    (TruncationSelectionPolicy(truncation_percentage=50), [0.9], [[0.5], [0.6], [0.7]], False),
])
def test_policies_decide_like_the_service(policy, mine, others, stop):
    assert should_stop(policy.to_json(), mine, others, maximize=True) is stop


def test_minimize_flips_the_bandit():
    assert should_stop(BanditPolicy(slack_factor=0.1).to_json(), [1.5], [[1.0]], maximize=False)
    assert not should_stop(BanditPolicy(slack_factor=0.1).to_json(), [1.05], [[1.0]], maximize=False)


@pytest.mark.parametrize("make", [
    lambda est: HyperDriveConfig(RandomParameterSampling({"a": uniform(0, 1)}), "acc", "MAXIMIZE", 0, estimator=est),
    lambda est: HyperDriveConfig(RandomParameterSampling({"a": uniform(0, 1)}), "acc", "MAXIMIZE", 5,
                                 max_concurrent_runs=101, estimator=est),
    lambda est: HyperDriveConfig(RandomParameterSampling({"a": uniform(0, 1)}), "acc", "UP", 5, estimator=est),
    lambda est: HyperDriveConfig(BayesianParameterSampling({"a": uniform(0, 1)}), "acc", "MAXIMIZE", 5,
                                 policy=BanditPolicy(slack_factor=0.1), estimator=est),
    lambda est: GridParameterSampling({"a": uniform(0, 1)}),
    lambda est: BayesianParameterSampling({"a": normal(0, 1)}),
    lambda est: RandomParameterSampling({"a": 3}),
    lambda est: uniform(2, 1),
    lambda est: BanditPolicy(),
    lambda est: HyperDriveConfig(RandomParameterSampling({"a": uniform(0, 1)}), "acc", "MAXIMIZE", 5),
])
def test_bad_sweep_inputs(project, make):
    from runyard.train.dnn import PyTorch

    est = PyTorch(str(project("t.py", "")), entry_script="t.py")
    with pytest.raises(RunyardError) as info:
        make(est)
    assert "Fix:" in str(info.value)
