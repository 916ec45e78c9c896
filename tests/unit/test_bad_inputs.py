"""Every bad input: a runyard error naming the field, the value and the fix; nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard import ComputeTarget, Experiment, Run, ScriptRunConfig, Workspace
from runyard.errors import RunyardError
from runyard.runconfig import MpiConfiguration, PyTorchConfiguration
from runyard.train.dnn import PyTorch


def pt(src: Path, **kw):
    return PyTorch(source_directory=str(src), entry_script=kw.pop("entry_script", "train.py"), **kw)


def submit(ws, src, **kw):
    return Experiment(ws, "bad").submit(pt(src, **kw))


CASES = [
    # (id, action(ws, src), field named in the message, value shown in the message)
    ("missing entry_script", lambda ws, src: pt(src, entry_script="nope.py"), "entry_script", "nope.py"),
    ("escaping entry_script", lambda ws, src: pt(src, entry_script="../outside.py"), "entry_script", "../outside.py"),
    ("absolute entry_script elsewhere", lambda ws, src: pt(src, entry_script="/etc/passwd"), "entry_script",
     "/etc/passwd"),
    ("empty entry_script", lambda ws, src: pt(src, entry_script=""), "entry_script", "''"),
    ("missing source_directory", lambda ws, src: PyTorch(source_directory=str(src / "gone"), entry_script="train.py"),
     "source_directory", "gone"),
    ("non-dict script_params", lambda ws, src: pt(src, script_params=["--lr", 1]), "script_params", "--lr"),
    ("list value in script_params", lambda ws, src: pt(src, script_params={"--x": [1, 2]}), "script_params", "[1, 2]"),
    ("None value in script_params", lambda ws, src: pt(src, script_params={"--x": None}), "script_params", "None"),
    ("node_count 0", lambda ws, src: pt(src, node_count=0), "node_count", "0"),
    ("node_count string", lambda ws, src: pt(src, node_count="2"), "node_count", "'2'"),
    ("process_count_per_node -1", lambda ws, src: pt(src, process_count_per_node=-1), "process_count_per_node", "-1"),
    ("two ranks without backend", lambda ws, src: pt(src, process_count_per_node=2), "distributed_backend", "None"),
    ("unknown backend", lambda ws, src: pt(src, distributed_backend="tcp"), "distributed_backend", "tcp"),
    ("nccl without gpu", lambda ws, src: pt(src, distributed_backend="nccl"), "distributed_backend", "nccl"),
    ("use_gpu not bool", lambda ws, src: pt(src, use_gpu="yes"), "use_gpu", "yes"),
    ("pip_packages a string", lambda ws, src: pt(src, pip_packages="numpy"), "pip_packages", "numpy"),
    ("bad requirement", lambda ws, src: pt(src, pip_packages=["numpy==="]), "pip_packages", "numpy==="),
    ("missing requirements file", lambda ws, src: pt(src, pip_requirements_file="req.txt"), "pip_requirements_file",
     "req.txt"),
    ("unknown parameter", lambda ws, src: pt(src, epochs=3), "epochs", "3"),
    ("negative max_run_duration_seconds", lambda ws, src: pt(src, max_run_duration_seconds=-5),
     "max_run_duration_seconds", "-5"),
    ("bad environment_variables", lambda ws, src: pt(src, environment_variables=["A=1"]), "environment_variables",
     "A=1"),
    ("process_count not a multiple", lambda ws, src: ScriptRunConfig(
        str(src), "train.py", distributed_job_config=PyTorchConfiguration("Gloo", process_count=3, node_count=2)),
     "process_count", "3"),
    ("mpi config with 0 processes", lambda ws, src: ScriptRunConfig(
        str(src), "train.py", distributed_job_config=MpiConfiguration(process_count_per_node=0)),
     "process_count_per_node", "0"),
    ("unparsable command", lambda ws, src: ScriptRunConfig(str(src), command="python 'train.py"), "command",
     "python 'train.py"),
    ("command with arguments", lambda ws, src: ScriptRunConfig(str(src), command="python train.py", arguments=["-x"]),
     "arguments", "['-x']"),
    ("unknown compute target", lambda ws, src: submit(ws, src, compute_target="gpu-cluster"), "compute_target",
     "gpu-cluster"),
    ("use_gpu on a machine without GPU", lambda ws, src: submit(ws, src, use_gpu=True), "use_gpu", "True"),
    ("bad experiment name", lambda ws, src: Experiment(ws, "no spaces allowed"), "name", "no spaces allowed"),
    ("submit a non-config", lambda ws, src: Experiment(ws, "x").submit("train.py"), "config", "train.py"),
    ("snapshot over the file limit", lambda ws, src: _over_limit(ws, src), "source_directory", "proj"),
    ("entry script ignored", lambda ws, src: _ignored_entry(ws, src), "entry_script", "train.py"),
    ("unknown run id", lambda ws, src: Run.get(ws, "no_such_run"), "run_id", "no_such_run"),
    ("non-numeric log value", lambda ws, src: _log(ws, src, {"a": 1}), "value", "{'a': 1}"),
    ("multi-element tensor", lambda ws, src: _log(ws, src, __import__("torch").ones(3)), "value", "shape (3,)"),
    ("unknown ComputeTarget name", lambda ws, src: ComputeTarget(workspace=ws, name="cpu"), "compute_target", "cpu"),
]


def _over_limit(ws, src):
    for i in range(5):
        (src / "data" / f"{i}.bin").parent.mkdir(exist_ok=True)
        (src / "data" / f"{i}.bin").write_bytes(b"x" * 1000)
    import os

    os.environ["RUNYARD_SNAPSHOT_MAX_FILES"] = "3"
    try:
        return submit(ws, src)
    finally:
        del os.environ["RUNYARD_SNAPSHOT_MAX_FILES"]


def _ignored_entry(ws, src):
    (src / ".amlignore").write_text("*.py\n")
    return submit(ws, src)


def _log(ws, src, value):
    Run.get_context().log("metric", value)  # outside a run: the offline run validates the same way


@pytest.mark.parametrize("action,field,value", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_anything_is_written(workspace: Workspace, project, action, field, value):
    src = project("train.py", "print('hi')\n")
    with pytest.raises(RunyardError) as info:
        action(workspace, src)
    message = str(info.value)
    assert field in message, message
    assert value in message, message
    assert "Fix:" in message, message
    assert workspace.store.list_runs() == []
    assert not any(workspace.blobs.root.rglob("*")), "a blob was stored for a refused submission"
    assert not any(workspace.runs_root.iterdir()), "a run folder was made for a refused submission"


def test_table_is_large_enough():
    assert len(CASES) >= 20
