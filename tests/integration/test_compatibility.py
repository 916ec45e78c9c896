"""The service's public notebooks and samples, the way they write it, with only `azureml` changed to
`runyard`: the SDK version cell, curated environments, a ScriptRunConfig edited after construction,
interactive runs as context managers, the hyperdrive submodules, and the behaviour sweeps rely on."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest

import runyard.core
from runyard.core import Dataset, Environment, Experiment, Run, ScriptRunConfig
from runyard.core.conda_dependencies import CondaDependencies
from runyard.core.runconfig import MpiConfiguration, RunConfiguration
from runyard.errors import ActivityFailedException, InvalidValueError

pytestmark = pytest.mark.integration


def test_first_cell_of_the_notebooks_prints_the_sdk_version(capsys):
    print("SDK version:", runyard.core.VERSION)
    import runyard as top

    assert capsys.readouterr().out.strip() == f"SDK version: {top.__version__}"


def test_telemetry_cell_is_accepted_and_sends_nothing():
    from runyard.telemetry import get_diagnostics_collection_info, set_diagnostics_collection

    set_diagnostics_collection(send_diagnostics=True)
    assert get_diagnostics_collection_info()["send_diagnostics"] is True


def test_hyperdrive_is_importable_from_every_submodule_the_samples_use():
    from runyard.train.hyperdrive import HyperDriveConfig as top
    from runyard.train.hyperdrive.parameter_expressions import choice, uniform  # noqa: F401
    from runyard.train.hyperdrive.policy import BanditPolicy  # noqa: F401
    from runyard.train.hyperdrive.run import HyperDriveRun, PrimaryMetricGoal  # noqa: F401
    from runyard.train.hyperdrive.runconfig import HyperDriveConfig, HyperDriveRunConfig
    from runyard.train.hyperdrive.sampling import RandomParameterSampling  # noqa: F401

    assert HyperDriveConfig is top and HyperDriveRunConfig is top
    assert PrimaryMetricGoal.MAXIMIZE.value == "MAXIMIZE"


# -- curated environments --------------------------------------------------------------------------
def test_curated_pytorch_environment_reuses_the_base_torch_and_says_so(workspace, caplog):
    import torch

    with caplog.at_level(logging.WARNING):
        env = Environment.get(workspace, name="azureml-acpt-pytorch-2.2-cuda12.1")
    minor = int(torch.__version__.split(".")[1])
    assert env.python.conda_dependencies.pip_packages == [f"torchvision==0.{minor + 15}.*"]
    assert not any(p.startswith("torch=") or p == "torch" for p in env.python.conda_dependencies.pip_packages)
    note = [r.getMessage() for r in caplog.records if "azureml-acpt-pytorch-2.2-cuda12.1" in r.getMessage()]
    assert len(note) == 1 and "torch " + torch.__version__.split("+")[0] in note[0] and "no container image" in note[0]
    assert Environment.get(workspace, "AzureML-PyTorch-1.6-GPU").name == "AzureML-PyTorch-1.6-GPU"


def test_curated_sklearn_environment_pins_the_version_in_its_name(workspace):
    packages = Environment.get(workspace, name="AzureML-sklearn-1.5").python.conda_dependencies.pip_packages
    assert packages[0] == "scikit-learn==1.5.*" and "pandas" in packages


def test_environment_list_shows_curated_and_registered_environments(workspace):
    mine = Environment("my-env")
    mine.python.conda_dependencies = CondaDependencies.create(pip_packages=["text-unidecode"])
    mine.register(workspace)
    listed = Environment.list(workspace)
    assert {"AzureML-sklearn-1.5", "AzureML-acpt-pytorch-2.2-cuda12.1", "AzureML-Minimal", "my-env"} <= set(listed)
    assert listed["my-env"].python.conda_dependencies.pip_packages == ["text-unidecode"]


def test_curated_name_of_another_framework_is_refused_with_the_fix(workspace):
    with pytest.raises(InvalidValueError, match="framework runyard does not run.*Fix: describe"):
        Environment.get(workspace, "AzureML-TensorFlow-2.3-GPU")
    with pytest.raises(InvalidValueError, match="not a curated environment.*Environment.list"):
        Environment.get(workspace, "AzureML-no-such-thing")


def test_a_run_on_a_curated_environment_runs_on_the_base_interpreter(workspace, project):
    src = project("hello.py", "import sys; print('python', sys.version_info[:2])")
    env = Environment.get(workspace, "AzureML-Minimal")
    run = Experiment(workspace, "curated").submit(ScriptRunConfig(str(src), "hello.py", environment=env))
    run.wait_for_completion()
    assert run.get_details()["runDefinition"]["environment"]["name"] == "AzureML-Minimal"


# -- ScriptRunConfig: the config object is what runs -------------------------------------------------
ENV_PROBE = """
    import os, sys
    from runyard.core import Run
    run = Run.get_context()
    run.log('which', os.environ.get('WHICH', 'none'))
    run.log('argv', ' '.join(sys.argv[1:]))
    run.log('world', int(os.environ.get('WORLD_SIZE', '1')))
"""


def test_run_config_changed_after_construction_is_what_is_submitted(workspace, project):
    src_dir = project("probe.py", ENV_PROBE)
    exp = Experiment(workspace, "train-on-local")
    first = Environment("user-managed-env")
    first.python.user_managed_dependencies = True
    src = ScriptRunConfig(source_directory=str(src_dir), script="probe.py", environment=first)
    run = exp.submit(src)
    run.wait_for_completion()
    assert run.get_metrics()["which"] == "none"

    second = Environment("system-managed-env")
    second.environment_variables = {"WHICH": "second"}
    src.run_config.environment = second          # the train-on-local notebook's cell
    src.run_config.environment_variables = {"EXTRA": "1"}
    src.arguments = ["--alpha", 0.5]
    run = exp.submit(src)
    run.wait_for_completion()
    spec = json.loads((workspace.runs_root / run.id / "spec.json").read_text())
    assert spec["environment"]["name"] == "system-managed-env"
    assert run.get_metrics() == {"which": "second", "argv": "--alpha 0.5", "world": 1}
    assert dict(map(tuple, spec["environment_variables"]))["EXTRA"] == "1"


def test_run_config_node_count_and_target_are_read_at_submit(workspace, project):
    src_dir = project("probe.py", ENV_PROBE)
    src = ScriptRunConfig(str(src_dir), "probe.py", distributed_job_config=MpiConfiguration(process_count_per_node=1))
    assert src.run_config.node_count == 1
    src.run_config.target = "no-such-target"
    with pytest.raises(Exception, match="no-such-target"):
        Experiment(workspace, "x").submit(src)
    assert not list(workspace.runs_root.glob("*")), "a refused submit writes nothing"


def test_run_configuration_passed_in_holds_script_and_arguments(workspace, project):
    src_dir = project("probe.py", ENV_PROBE)
    rc = RunConfiguration(script="probe.py", arguments=["--x", 1])
    run = Experiment(workspace, "rc").submit(ScriptRunConfig(str(src_dir), run_config=rc))
    run.wait_for_completion()
    assert run.get_metrics()["argv"] == "--x 1"


# -- interactive runs --------------------------------------------------------------------------------
def test_start_logging_as_a_context_manager_completes_and_uploads_outputs(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(workspace=workspace, name="explore-runs")
    with exp.start_logging() as notebook_run:
        notebook_run.log(name="message", value="Hello from run!")
        assert notebook_run.get_status() == "Running"
        (tmp_path / "outputs" / "note.txt").write_text("kept")  # ./outputs exists: start_logging made it
    assert notebook_run.get_status() == "Completed"
    assert notebook_run.get_metrics() == {"message": "Hello from run!"}
    assert "outputs/note.txt" in notebook_run.get_file_names()


def test_an_exception_in_the_block_fails_the_run_and_propagates(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(workspace, "explore-runs")
    with pytest.raises(ZeroDivisionError):
        with exp.start_logging() as run:
            1 / 0
    assert run.get_status() == "Failed"
    assert "ZeroDivisionError" in run.get_details()["error"]["error"]["message"]


def test_child_runs_as_context_managers_and_create_children(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(workspace, "explore-runs")
    with exp.start_logging() as parent_run:
        for c, count in enumerate(range(5)):
            with parent_run.child_run() as child:
                child.log(name="Hello from child run", value=c)
    children = list(parent_run.get_children())
    assert len(children) == 5 and {c.get_status() for c in children} == {"Completed"}
    assert sorted(c.get_metrics()["Hello from child run"] for c in children) == [0, 1, 2, 3, 4]

    created = parent_run.create_children(count=3)
    for c, child in enumerate(created):
        child.log(name="Hello from child run ", value=c)
        child.complete()
    assert len(parent_run.get_children()) == 8
    with pytest.raises(InvalidValueError, match="count"):
        parent_run.create_children(count=0)


def test_create_children_inside_a_submitted_script(workspace, project):
    src = project("hello_with_children.py", """
        from runyard.core import Run
        run = Run.get_context()
        child_runs = run.create_children(count=5)
        for c, child in enumerate(child_runs):
            child.log(name="Hello from child run ", value=c)
            child.complete()
    """)
    run = Experiment(workspace, "explore-runs").submit(ScriptRunConfig(str(src), "hello_with_children.py"))
    run.wait_for_completion()
    children = run.get_children()
    assert len(children) == 5 and {c.get_status() for c in children} == {"Completed"}


def test_start_logging_with_a_snapshot_directory_and_restore_snapshot(workspace, project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = project("train.py", "print('hi')", "lib/util.py", "X = 1")
    run = Experiment(workspace, "snap").start_logging(snapshot_directory=str(code))
    run.complete()
    restored = run.restore_snapshot(path="snapshots")
    assert Path(restored).resolve().parent == tmp_path / "snapshots" and restored.endswith(".zip")
    with zipfile.ZipFile(restored) as z:
        assert sorted(z.namelist()) == ["lib/util.py", "train.py"]
        assert z.read("lib/util.py") == b"X = 1"
    with pytest.raises(InvalidValueError, match="snapshot_id"):
        run.restore_snapshot(snapshot_id="../../etc")


def test_submitted_run_restore_snapshot_is_the_submitted_folder(workspace, project, tmp_path):
    src = project("hello.py", "print('hello')", ".amlignore", "/outputs\n", "outputs/old.txt", "x")
    run = Experiment(workspace, "snap").submit(ScriptRunConfig(str(src), "hello.py"))
    run.wait_for_completion()
    with zipfile.ZipFile(run.restore_snapshot(path=str(tmp_path / "snapshots"))) as z:
        assert sorted(z.namelist()) == [".amlignore", "hello.py"]


def test_get_runs_filters_by_properties_and_tags(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(workspace, "explore-runs")
    kept, other = exp.start_logging(), exp.start_logging()
    kept.add_properties({"author": "azureml-user"})
    kept.tag("quality", "fantastic run")
    kept.tag("worth another look")
    other.add_properties({"author": "someone-else"})
    assert kept.get_tags()["worth another look"] == ""
    found = list(exp.get_runs(properties={"author": "azureml-user"}, tags={"quality": "fantastic run"}))
    assert [r.id for r in found] == [kept.id]
    assert [r.id for r in exp.get_runs(properties={"author": "azureml-user"}, tags="worth another look")] == [kept.id]
    kept.complete(), other.complete()


# -- logging and models ---------------------------------------------------------------------------------
def test_log_list_takes_any_iterable(workspace, tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    with Experiment(workspace, "logging-api-test").start_logging() as run:
        scale_factor = 2
        run.log_list(name="Fibonacci", value=(i * scale_factor for i in [0, 1, 1, 2, 3, 5]))
        run.log_list(name="array", value=np.arange(3))
        run.log_list(name="range", value=range(3))
    metrics = run.get_metrics()
    assert metrics["Fibonacci"] == [0, 2, 2, 4, 6, 10]
    assert metrics["array"] == [0, 1, 2] and metrics["range"] == [0, 1, 2]


def test_register_model_with_a_dot_slash_path_and_model_url(workspace, project):
    src = project("train.py", """
        import os
        os.makedirs('outputs', exist_ok=True)
        open('outputs/ridge_0.40.pkl', 'wb').write(b'model')
    """)
    run = Experiment(workspace, "train-on-local").submit(ScriptRunConfig(str(src), "train.py"))
    run.wait_for_completion()
    model = run.register_model(model_name="best_ridge_model", model_path="./outputs/ridge_0.40.pkl")
    assert (model.name, model.version) == ("best_ridge_model", 1)
    from urllib.parse import unquote, urlparse

    assert model.url.startswith("file://") and Path(unquote(urlparse(model.url).path)).is_dir()
    with pytest.raises(InvalidValueError, match="model_path"):
        run.register_model("escape", "outputs/../../../../runyard.db")
    with pytest.raises(InvalidValueError, match="model_path"):
        run.register_model("escape", "/etc/passwd")


def test_dataset_file_upload_directory(workspace, tmp_path):
    data_root = tmp_path / "cifar-10"
    (data_root / "batches").mkdir(parents=True)
    (data_root / "batches" / "data_batch_1").write_bytes(b"1" * 10)
    (data_root / "readme.html").write_text("r")
    datastore = workspace.get_default_datastore()
    dataset = Dataset.File.upload_directory(src_dir=str(data_root), target=(datastore, "cifar-10"))
    assert sorted(Path(p).as_posix() for p in dataset.to_path()) == ["/batches/data_batch_1", "/readme.html"]
    only = Dataset.File.upload_directory(str(data_root), (datastore, "only-batches"), pattern="data_batch_*")
    assert [Path(p).name for p in only.to_path()] == ["data_batch_1"]


# -- sweeps ---------------------------------------------------------------------------------------------
def test_a_sweep_whose_trials_all_fail_ends_failed_naming_their_errors(workspace, project, capsys):
    from runyard.train.hyperdrive.parameter_expressions import choice
    from runyard.train.hyperdrive.runconfig import HyperDriveConfig
    from runyard.train.hyperdrive.run import PrimaryMetricGoal
    from runyard.train.hyperdrive.sampling import RandomParameterSampling

    src = project("train_iris.py", """
        import argparse
        p = argparse.ArgumentParser(); p.add_argument('--kernel'); p.add_argument('--penalty', type=float)
        args = p.parse_args()
        raise AttributeError(f"module 'numpy' has no attribute 'str' ({args.kernel})")
    """)
    config = ScriptRunConfig(source_directory=str(src), script="train_iris.py",
                             arguments=["--kernel", "linear", "--penalty", 1.0])
    sampling = RandomParameterSampling({"--kernel": choice("linear", "rbf"), "--penalty": choice(0.5, 1)})
    hd = HyperDriveConfig(run_config=config, hyperparameter_sampling=sampling, primary_metric_name="Accuracy",
                          primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=6, max_concurrent_runs=2)
    hyperdrive_run = Experiment(workspace, "train_iris").submit(hd)
    with pytest.raises(ActivityFailedException, match="all 4 trials failed"):
        hyperdrive_run.wait_for_completion(show_output=True)
    assert hyperdrive_run.get_status() == "Failed"
    out = capsys.readouterr().out
    assert out.count("ended Failed") == 4 and "no attribute 'str'" in out
    # four distinct configurations of the four there are, then the space is exhausted (no repeats)
    params = {json.dumps(json.loads(c.get_properties()["hyperparameters"]), sort_keys=True)
              for c in hyperdrive_run.get_children()}
    assert len(params) == 4 and "the parameter space is exhausted" in out


def test_random_sampling_over_a_finite_space_never_repeats_before_exhausting():
    from runyard.hyperdrive.sampling import Sampler
    from runyard.train.hyperdrive import RandomParameterSampling, choice, randint

    space = RandomParameterSampling({"--kernel": choice("linear", "rbf", "poly", "sigmoid"),
                                     "--penalty": choice(0.5, 1, 1.5), "--seed": randint(2)})
    for seed in range(20):
        sampler = Sampler(space.to_json(), True, seed)
        drawn = [tuple(sampler.next(i).items()) for i in range(24)]
        assert len(set(drawn)) == 24
        assert sampler.next(24) is None


# -- distributed behaviour the samples rely on ------------------------------------------------------------
def test_nodes_placed_on_one_machine_split_its_cores_among_all_ranks(workspace, project):
    import os

    from runyard.core.runconfig import PyTorchConfiguration

    src = project("threads.py", """
        import os
        from runyard.core import Run
        Run.get_context().log('threads', int(os.environ['OMP_NUM_THREADS']))
    """)
    config = ScriptRunConfig(str(src), "threads.py",
                             distributed_job_config=PyTorchConfiguration("Gloo", process_count=2, node_count=2))
    run = Experiment(workspace, "layout").submit(config)
    run.wait_for_completion()
    cores = len(os.sched_getaffinity(0))
    assert run.get_metrics(all_ranks=True)["threads"] == [max(1, cores // 2)] * 2


def test_the_failure_names_the_rank_that_failed_not_the_peer_that_exited_first(workspace, project):
    from runyard.core.runconfig import PyTorchConfiguration

    # rank 1 raises, then lingers in its exit handlers; rank 0 gives up waiting for it (a gloo timeout)
    # and exits first
    src = project("train.py", """
        import atexit, datetime, os, time
        import torch, torch.distributed as dist
        dist.init_process_group('gloo', timeout=datetime.timedelta(seconds=2))
        if dist.get_rank() == 1:
            atexit.register(time.sleep, 6)
            raise ValueError('bad batch in rank 1')
        dist.all_reduce(torch.ones(1))
    """)
    config = ScriptRunConfig(str(src), "train.py", distributed_job_config=PyTorchConfiguration("Gloo", process_count=2))
    run = Experiment(workspace, "ddp").submit(config)
    with pytest.raises(ActivityFailedException):
        run.wait_for_completion()
    error = run.get_details()["error"]["error"]["message"]
    assert error.startswith("rank 1 failed") and "rank 0 exited with code" in error, error
    assert "ValueError: bad batch in rank 1" in error
