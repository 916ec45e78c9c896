"""Environments built for real with uv against small real packages, cached and reused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from runyard import Environment, Experiment, ScriptRunConfig
from runyard.environments import CondaDependencies
from runyard.train.dnn import PyTorch

pytestmark = pytest.mark.integration

PROBE = """
import importlib, json, sys, torch
names = sys.argv[1:]
found = {n: importlib.import_module(n).__file__ for n in names}
print("PROBE", json.dumps({"torch": torch.__file__, **found, "python": sys.executable}))
"""


def probe(run) -> dict:
    import json

    log = run.folder.rank_log(0).read_text()
    return json.loads(log.split("PROBE ", 1)[1].splitlines()[0])


def submit(workspace, src, modules, **kw):
    est = PyTorch(str(src), entry_script="probe.py", script_params={m: "" for m in modules}, **kw)
    return Experiment(workspace, "envs").submit(est)


def test_packages_land_in_a_layer_over_the_base_and_are_recorded(workspace, project):
    src = project("probe.py", PROBE)
    run = submit(workspace, src, ["tomli_w"], pip_packages=["tomli-w==1.2.0"])
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = probe(run)
    assert "/environments/" in seen["tomli_w"] and "/environments/" in seen["python"]
    assert "/environments/" not in seen["torch"]  # the base interpreter's torch is reused
    assert details["properties"]["runyard.packages"] == '["tomli-w==1.2.0"]'
    prepare = run.folder.prepare_log.read_text()
    assert "building environment" in prepare and "tomli-w==1.2.0" in prepare

    again = submit(workspace, src, ["tomli_w"], pip_packages=["tomli-w==1.2.0"])
    assert again.wait_for_completion()["status"] == "Completed"
    prepare = again.folder.prepare_log.read_text()
    assert "nothing to install" in prepare and "building" not in prepare and "Installed" not in prepare


def test_two_runs_asking_at_once_build_once(workspace, project):
    src = project("probe.py", PROBE)
    runs = [submit(workspace, src, ["text_unidecode"], pip_packages=["text-unidecode==1.3"]) for _ in range(2)]
    for run in runs:
        assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    logs = [r.folder.prepare_log.read_text() for r in runs]
    assert sum("building environment" in log for log in logs) == 1
    assert sum("nothing to install" in log for log in logs) == 1


@pytest.mark.parametrize("packages,bad", [
    (["runyard-no-such-package-4242"], "runyard-no-such-package-4242"),
    (["tomli-w==1.0.0", "tomli-w==1.2.0"], "tomli-w"),
])
def test_bad_packages_fail_in_preparing_naming_them(workspace, project, packages, bad):
    src = project("probe.py", PROBE)
    run = submit(workspace, src, [], pip_packages=packages)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert message.startswith("Preparing failed") and f"(package: {bad}" in message
    assert [e["status"] for e in details["statusHistory"]][-2:] == ["Preparing", "Failed"]
    envs = workspace.path / "environments"
    assert not [p for p in envs.iterdir() if p.is_dir()]  # nothing half-built left to reuse


def test_requirements_file_environment_object_and_conda_fallback(workspace, project, tmp_path):
    src = project("probe.py", PROBE, "requirements.txt", "tomli-w==1.2.0\n")
    run = submit(workspace, src, ["tomli_w"], pip_requirements_file="requirements.txt")
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"

    env = Environment("probe-env")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["text-unidecode=1.3"])
    env.environment_variables = {"PROBE_FLAG": "on"}
    env.register(workspace)
    assert Environment.get(workspace, "probe-env").version == "1"
    cfg = ScriptRunConfig(str(src), "probe.py", arguments=["text_unidecode"],
                          environment=Environment.get(workspace, "probe-env"))
    run = Experiment(workspace, "envs").submit(cfg)
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    prepare = run.folder.prepare_log.read_text()
    assert "warning: conda package 'text-unidecode=1.3' installed with pip as 'text-unidecode==1.3.*'" in prepare
    assert "/environments/" in probe(run)["text_unidecode"]


def test_conda_tool_on_path_is_used(workspace, project, tmp_path, monkeypatch):
    # a stand-in micromamba at the boundary: it records its arguments and lays out a prefix
    fake = tmp_path / "bin" / "micromamba"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"$@\" > \"$RUNYARD_FAKE_CONDA_LOG\"\nprefix=$4\n"
                    "mkdir -p \"$prefix/lib/python3.11/site-packages\"\n"
                    "echo 'VALUE = 42' > \"$prefix/lib/python3.11/site-packages/condapkg.py\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RUNYARD_FAKE_CONDA_LOG", str(tmp_path / "conda-args"))
    src = project("probe.py", PROBE)
    run = submit(workspace, src, ["condapkg"], conda_packages=["condapkg=1.0"])
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert (tmp_path / "conda-args").read_text().startswith("create --yes --prefix")
    assert "/environments/" in probe(run)["condapkg"]


def test_framework_version_must_be_available(project):
    from runyard.errors import InvalidValueError

    src = project("probe.py", PROBE)
    assert PyTorch(str(src), entry_script="probe.py", framework_version=PyTorch.get_supported_versions()[0])
    with pytest.raises(InvalidValueError, match="framework_version='1.4'.*available"):
        PyTorch(str(src), entry_script="probe.py", framework_version="1.4")


def test_env_list_and_prune(workspace, project):
    src = project("probe.py", PROBE)
    submit(workspace, src, [], pip_packages=["tomli-w==1.2.0"]).wait_for_completion()
    cli = [sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "env"]
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, check=True).stdout
    assert "tomli-w==1.2.0" in listed and "MB" in listed
    kept = subprocess.run([*cli, "prune", "--older-than", "1"], capture_output=True, text=True, check=True).stdout
    assert "0 environment(s) removed" in kept
    gone = subprocess.run([*cli, "prune", "--older-than", "0"], capture_output=True, text=True, check=True).stdout
    assert "1 environment(s) removed" in gone


VISION = """
import torch, torchvision
from runyard import Run
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], dtype=torch.float32)
kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
Run.get_context().log("kept", len(kept))
print("torchvision", torchvision.__version__)
"""


def test_a_pytorch_estimator_whose_source_imports_torchvision_gets_the_release_matching_torch(workspace, project):
    """The service's PyTorch image held torchvision: the estimator adds the release that matches the base torch
    when the source folder imports it, and a build that cannot load over this torch is named with the fix in the
    preparation log, not left to fail at import."""
    from runyard.environments.curated import base_torch_version, matching_torchvision

    plain = project("plain.py", "import torch\nprint('plain')\n", name="plain")
    assert PyTorch(str(plain), entry_script="plain.py").environment.pip_packages == ()  # no torchvision: no slower
    src = project("vision.py", VISION)
    est = PyTorch(str(src), entry_script="vision.py")
    expected = matching_torchvision(base_torch_version())
    assert expected in est.environment.pip_packages
    run = Experiment(workspace, "vision").submit(est)
    run.wait_for_completion(raise_on_error=False)
    prepare = (workspace.path / "runs" / run.id / "system_logs" / "prepare.txt")
    text = prepare.read_text() if prepare.exists() else run.get_details()["error"]["error"]["message"]
    if run.get_status() == "Completed":
        assert run.get_metrics()["kept"] == 2
    else:  # PyPI's torchvision is a CUDA build; over a CPU torch it cannot load: said where it is decided
        message = run.get_details()["error"]["error"]["message"]
        assert "torchvision==" in message and "cannot load over the base interpreter's torch" in message, message
        assert "Fix: ask for the torchvision build of that torch" in message
        assert "torchvision" in text
