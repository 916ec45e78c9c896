"""Reproducing runs: what a run records, a rerun that gives the same bits, a rerun refused when its data
changed (and recorded when allowed), and `runyard diff` between runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from runyard import Experiment
from runyard.errors import ReproducibilityError
from runyard.run import Run
from runyard.train.dnn import PyTorch
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "runyard.cli.main"]

TRAIN = """
import argparse, hashlib, os, random
import numpy as np
import torch
from runyard import Run
p = argparse.ArgumentParser(); p.add_argument('--data'); p.add_argument('--lr', type=float, default=0.1)
a = p.parse_args()
run = Run.get_context()
run.set_seed(1234)
text = b"".join(open(os.path.join(a.data, n), "rb").read() for n in sorted(os.listdir(a.data)))
x = torch.tensor([float(b) for b in text[:64]]).reshape(8, 8) / 255
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=a.lr)
for step in range(30):
    noise = torch.randn(8, 1) * 0.01 + float(np.random.rand()) * 0.001 + random.random() * 0.001
    loss = ((model(x) - noise) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    run.log("loss", loss.item(), step=step)
os.makedirs("outputs", exist_ok=True)
torch.save(model.state_dict(), "outputs/model.pt")
open("outputs/weights.bin", "wb").write(b"".join(t.detach().numpy().tobytes() for t in model.parameters()))
"""


def _outputs_digest(run: Run, tmp_path, name: str) -> str:
    target = tmp_path / f"{run.id}-{name.replace('/', '_')}"
    run.download_file(name, str(target))
    return hashlib.sha256(target.read_bytes()).hexdigest()


@pytest.fixture
def original(workspace, project, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("the quick brown fox jumps over the lazy dog " * 4)
    (data / "b.txt").write_text("pack my box with five dozen liquor jugs " * 4)
    ds = workspace.get_default_datastore()
    ds.upload(str(data), target_path="corpus", show_progress=False)
    src = project("train.py", TRAIN)
    est = PyTorch(str(src), entry_script="train.py", script_params={"--data": ds.path("corpus").as_mount(),
                                                                    "--lr": 0.1})
    run = Experiment(workspace, "repro").submit(est)
    run.wait_for_completion(raise_on_error=True)
    return run, ds, src


def test_a_run_records_what_it_needs_to_be_reproduced(original):
    run, _, _ = original
    record = json.loads(run.get_properties()["runyard.provenance"])
    assert record["snapshot"] == run.get_details()["properties"]["runyard.snapshotId"]
    assert record["command"][0] == "train.py" and "--lr" in record["command"]
    assert record["layout"] == {"nodes": 1, "processes_per_node": 1, "backend": None, "gpu": False}
    corpus = record["data"]["workspaceblobstore_corpus"]  # the data reference's name, as the service names it
    assert (corpus["files"], corpus["datastore"], corpus["path"]) == (2, "workspaceblobstore", "corpus")
    assert len(corpus["digest"]) == 64
    import torch

    assert record["environment"]["torch"] == torch.__version__
    assert record["environment"]["python"] == sys.version.split()[0]
    names = {p[0].lower() for p in record["environment"]["packages"]}
    assert {"torch", "numpy", "runyard"} <= names
    assert all(len(p[2]) == 64 or p[2] == "editable" for p in record["environment"]["packages"])
    assert record["machine"]["cores"] and record["machine"]["cpu"]
    assert run.get_properties()["runyard.seed"] == "1234"


def test_a_rerun_of_a_deterministic_script_gives_identical_metrics_and_output_bits(original, tmp_path):
    run, _, _ = original
    again = run.rerun()
    again.wait_for_completion(raise_on_error=True)
    assert again.get_properties()["runyard.rerunOf"] == run.id
    assert again.get_metrics()["loss"] == run.get_metrics()["loss"]
    for name in ("outputs/model.pt", "outputs/weights.bin"):
        assert _outputs_digest(again, tmp_path, name) == _outputs_digest(run, tmp_path, name)
    shown = subprocess.run([*CLI, "-w", str(run.experiment.workspace.path), "diff", run.id, again.id],
                           capture_output=True, text=True, check=True).stdout
    assert "same code, parameters, environment, data, layout, machine and final metrics" in shown


def test_a_cli_rerun_with_the_source_tree_first_on_the_path_reproduces(original):
    """runyard installed editable is found twice (site-packages' .dist-info and src/runyard.egg-info); which one
    comes first depends on PYTHONPATH, and neither form may read as a changed environment."""
    run, _, _ = original
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([*CLI, "-w", str(run.experiment.workspace.path), "rerun", run.id], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"a rerun of {run.id}" in done.stdout
    again = Run.get(run.experiment.workspace, done.stdout.split()[1].rstrip(","))
    again.wait_for_completion(raise_on_error=True)
    assert again.get_metrics()["loss"] == run.get_metrics()["loss"]


def test_a_rerun_on_changed_data_is_refused_naming_it_and_recorded_when_allowed(original, workspace, tmp_path):
    run, ds, _ = original
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "c.txt").write_text("a third file")
    ds.upload(str(changed), target_path="corpus", show_progress=False)
    before = len(list(Experiment(workspace, "repro").get_runs()))
    with pytest.raises(ReproducibilityError, match=r"(?s)data 'workspaceblobstore_corpus' \(workspaceblobstore/corpus\) changed: 2 files.*"
                                                   r"3 files.*Fix: pass --allow-changes") as info:
        run.rerun()
    assert len(info.value.differences) == 1
    assert len(list(Experiment(workspace, "repro").get_runs())) == before  # nothing was submitted
    refused = subprocess.run([*CLI, "-w", str(workspace.path), "rerun", run.id], capture_output=True, text=True)
    assert refused.returncode != 0 and "changed: 2 files" in refused.stderr
    allowed = subprocess.run([*CLI, "-w", str(workspace.path), "rerun", run.id, "--allow-changes", "--wait"],
                             capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr
    new_id = allowed.stdout.split()[1].rstrip(",")
    new = Run.get(workspace, new_id)
    assert "workspaceblobstore_corpus" in json.loads(new.get_properties()["runyard.rerunChanges"])[0]
    found = subprocess.run([*CLI, "-w", str(workspace.path), "diff", run.id, new_id, "--json"], capture_output=True,
                           text=True, check=True).stdout
    assert [c["name"] for c in json.loads(found)["data"]] == ["workspaceblobstore_corpus"]


def test_diff_shows_code_parameters_and_final_metrics_that_differ(original, workspace, tmp_path):
    run, ds, src = original
    (src / "train.py").write_text((src / "train.py").read_text().replace("range(30)", "range(20)"))
    other = Experiment(workspace, "repro").submit(PyTorch(
        str(src), entry_script="train.py", script_params={"--data": ds.path("corpus").as_mount(), "--lr": 0.05}))
    other.wait_for_completion(raise_on_error=True)
    shown = subprocess.run([*CLI, "-w", str(workspace.path), "diff", run.id, other.id], capture_output=True,
                           text=True, check=True).stdout
    assert "code:\n  train.py: changed" in shown
    assert "-for step in range(30):\n+for step in range(20):" in shown
    assert "parameters:\n  lr: 0.1 -> 0.05" in shown
    assert "metrics:\n  loss:" in shown
    assert "environment:" not in shown and "machine:" not in shown
