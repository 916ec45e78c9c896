"""A sweep for real: children are ordinary runs, the policy cancels laggards, the best run is found."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runyard import Experiment, Run
from runyard.train.dnn import PyTorch
from runyard.train.hyperdrive import (BanditPolicy, BayesianParameterSampling, GridParameterSampling,
                                      HyperDriveConfig, HyperDriveRun, PrimaryMetricGoal, RandomParameterSampling,
                                      choice, uniform)

pytestmark = pytest.mark.integration
TRAIN = """
import argparse, time
from runyard import Run
p = argparse.ArgumentParser()
p.add_argument('--lr', type=float); p.add_argument('--bs', type=int, default=8); p.add_argument('--epochs', type=int)
a = p.parse_args()
run = Run.get_context()
for e in range(a.epochs):
    run.log('accuracy', a.lr * (e + 1) / a.epochs)
    time.sleep(0.3)
"""


def test_grid_sweep_with_bandit_policy(workspace, project, capsys):
    est = PyTorch(str(project("train.py", TRAIN)), entry_script="train.py", script_params={"--epochs": 6, "--lr": 5})
    # the leaders are sampled first, so the laggards always meet their full series (not a race of start times)
    config = HyperDriveConfig(GridParameterSampling({"--lr": choice(0.9, 0.5, 0.1), "bs": choice(16, 32)}),
                              "accuracy", PrimaryMetricGoal.MAXIMIZE, max_total_runs=6, max_concurrent_runs=3,
                              policy=BanditPolicy(slack_factor=0.2, delay_evaluation=1), estimator=est)
    sweep = Experiment(workspace, "sweep").submit(config)
    assert isinstance(sweep, HyperDriveRun)
    assert sweep.wait_for_completion(show_output=True)["status"] == "Completed"
    children = sweep.get_children()
    assert len(children) == 6
    params = sorted(tuple(sorted(json.loads(p).items())) for p in sweep.get_hyperparameters().values())
    assert params == sorted((("--lr", lr), ("bs", bs)) for lr in (0.1, 0.5, 0.9) for bs in (16, 32))
    best = sweep.get_best_run_by_primary_metric()
    assert json.loads(best.get_properties()["hyperparameters"])["--lr"] == 0.9
    arguments = best.get_details()["runDefinition"]["arguments"]
    assert arguments.count("--lr") == 1 and "5" not in arguments  # the sampled value replaced script_params'
    stopped = [c for c in children if "runyard.earlyTermination" in c.get_tags()]
    assert stopped and all(c.get_status() == "Canceled" for c in stopped)
    stopped_lrs = {json.loads(c.get_properties()["hyperparameters"])["--lr"] for c in stopped}
    assert 0.1 in stopped_lrs and 0.9 not in stopped_lrs  # laggards stopped, the leaders never
    assert f"Best run: {best.id} (best primary metric 0.9" in capsys.readouterr().out
    per_child = sweep.get_metrics()  # the service's HyperDriveRun: {child run id: its metrics}
    assert set(per_child) == {c.id for c in children} and per_child[best.id]["accuracy"][-1] == 0.9
    ranked = sweep.get_children_sorted_by_primary_metric(top=2)
    assert [r["best_primary_metric"] for r in ranked] == [0.9, 0.9]
    assert isinstance(Run.get(workspace, sweep.id), HyperDriveRun)  # from another handle, by id
    # every way of getting the sweep back gives the service's type, with its methods
    listed = next(r for r in Experiment(workspace, "sweep").get_runs() if r.id == sweep.id)
    for again in (listed, Run(Experiment(workspace, "sweep"), sweep.id), workspace.get_run(sweep.id)):
        assert type(again) is HyperDriveRun and again.get_best_run_by_primary_metric().id == best.id
    assert all(type(c) is Run for c in Experiment(workspace, "sweep").get_runs(include_children=True)
               if c.id != sweep.id)
    assert best.parent.id == sweep.id and sweep.parent is None
    shown = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "show", sweep.id],
                           capture_output=True, text=True).stdout
    table = shown[shown.index("CHILD RUN"):].splitlines()
    assert "ACCURACY (max)" in table[0] and "--lr" in table[0] and len(table) == 7
    assert table[1].split()[2] == "0.9" and table[1].split()[3] == "0.9"  # the leaders first, with their lr
    listing = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "runs"],
                             capture_output=True, text=True).stdout.splitlines()
    at = next(i for i, line in enumerate(listing) if line.startswith(sweep.id))
    trials = listing[at + 1:at + 7]  # the trials folded right under their sweep, with their hyperparameters
    assert all(t.startswith("└ ") for t in trials) and "HYPERPARAMETERS" in listing[1], listing
    assert {t.split()[1] for t in trials} == {c.id for c in children}
    assert sum("lr=0.9" in t and "bs=" in t for t in trials) == 2, trials


def _running_intervals(run) -> tuple[float, float]:
    events = run.get_details()["statusHistory"]
    from datetime import datetime

    times = {e["status"]: datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() for e in events}
    return times["Queued"], times.get("Completed", times.get("Failed", times.get("Canceled")))


def test_random_sweep_respects_max_concurrent_runs(workspace, project):
    est = PyTorch(str(project("train.py", TRAIN)), entry_script="train.py", script_params={"--epochs": 2})
    config = HyperDriveConfig(RandomParameterSampling({"--lr": uniform(0.1, 1.0)}), "accuracy", "MAXIMIZE",
                              max_total_runs=4, max_concurrent_runs=2, estimator=est, seed=7)
    sweep = Experiment(workspace, "random").submit(config)
    sweep.wait_for_completion()
    spans = [_running_intervals(c) for c in sweep.get_children()]
    assert len(spans) == 4
    for start, _ in spans:  # at no moment were more than two children alive
        assert sum(1 for s, e in spans if s <= start < e) <= 2


def test_bayesian_sweep_and_cancel(workspace, project):
    est = PyTorch(str(project("train.py", TRAIN)), entry_script="train.py", script_params={"--epochs": 30})
    config = HyperDriveConfig(BayesianParameterSampling({"--lr": uniform(0.1, 1.0)}), "accuracy", "MAXIMIZE",
                              max_total_runs=5, max_concurrent_runs=1, estimator=est, seed=3)
    sweep = Experiment(workspace, "bayes").submit(config)
    import time

    deadline = time.time() + 60
    while not sweep.get_children() and time.time() < deadline:
        time.sleep(0.2)
    sweep.cancel()
    assert sweep.get_status() == "Canceled"
    deadline = time.time() + 30
    while time.time() < deadline and not all(c.get_status() == "Canceled" for c in sweep.get_children()):
        time.sleep(0.2)
    assert all(c.get_status() == "Canceled" for c in sweep.get_children())
