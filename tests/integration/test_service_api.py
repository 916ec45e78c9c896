"""The service's documented API, used the way its docs and public training scripts use it."""

from __future__ import annotations

import warnings

import pytest

from runyard import Experiment, Workspace
from runyard.core.compute import AmlCompute, ComputeTarget
from runyard.core.compute_target import ComputeTargetException
from runyard.errors import RunyardWarning
from runyard.train.dnn import PyTorch
from runyard.train.estimator import Estimator

pytestmark = pytest.mark.integration


def test_from_config_finds_the_workspace_upward_or_makes_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = Workspace.from_config()
    assert made.path == tmp_path / ".runyard" and (made.path / "config.json").exists()
    deeper = tmp_path / "a" / "b"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert Workspace.from_config() == made
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    made.write_config(path=str(elsewhere))
    monkeypatch.chdir(elsewhere)
    assert Workspace.from_config() == made


def test_compute_target_lookup_and_the_services_create_pattern(workspace):
    assert "local" in workspace.compute_targets
    with pytest.raises(ComputeTargetException, match="gpu-cluster"):
        ComputeTarget(workspace=workspace, name="gpu-cluster")
    with pytest.warns(RunyardWarning, match="vm_size"):
        config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", max_nodes=2)
    target = ComputeTarget.create(workspace, "gpu-cluster", config)
    target.wait_for_completion(show_output=False)
    again = ComputeTarget(workspace=workspace, name="gpu-cluster")
    assert again.name == "gpu-cluster" and again.config["max_nodes"] == 2
    assert set(workspace.compute_targets) == {"local", "gpu-cluster"}


def test_estimator_submits_to_a_created_target_by_object(workspace, project):
    src = project("train.py", "print('on target')\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = ComputeTarget.create(workspace, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=1))
    run = Experiment(workspace, "t").submit(Estimator(str(src), entry_script="train.py", compute_target=target))
    assert run.wait_for_completion()["target"] == "cpu-cluster"
    with pytest.raises(ComputeTargetException, match="max_nodes=1"):
        Experiment(workspace, "t").submit(Estimator(str(src), entry_script="train.py", compute_target=target,
                                                    node_count=2, distributed_backend="gloo"))


@pytest.mark.parametrize("param,value", [("vm_size", "STANDARD_NC6"), ("use_docker", True), ("shm_size", "8g"),
                                         ("vm_priority", "lowpriority"), ("source_directory_data_store", "ds")])
def test_service_only_parameters_warn_in_one_line(project, param, value):
    src = project("train.py", "")
    with pytest.warns(RunyardWarning) as record:
        PyTorch(str(src), entry_script="train.py", **{param: value})
    message = str(record[0].message)
    assert message.startswith(f"{param}={value!r} is ignored: ") and "\n" not in message


def test_log_image_table_and_row_from_a_script(workspace, project):
    src = project("train.py", """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from runyard import Run
        run = Run.get_context()
        fig = plt.figure()
        plt.plot([1, 2, 3])
        run.log_image("curve", plot=fig)
        fig.savefig("saved.png")
        run.log_image("saved", path="saved.png")
        run.log_table("table", {"epoch": [1, 2], "acc": [0.5, 0.6]})
        import numpy as np
        run.log("np", np.float64(0.25))
        run.log("name", "adam")
    """)
    run = Experiment(workspace, "img").submit(PyTorch(str(src), entry_script="train.py"))
    run.wait_for_completion()
    metrics = run.get_metrics()
    assert metrics["table"] == {"epoch": [1, 2], "acc": [0.5, 0.6]}
    assert metrics["np"] == 0.25 and metrics["name"] == "adam"
    images = [n for n in run.get_file_names() if n.startswith("outputs/images/")]
    assert metrics["curve"] in images and metrics["saved"] in images
    assert run.folder.file_path(metrics["curve"]).read_bytes()[:4] == b"\x89PNG"


def test_a_worker_killed_by_sigkill_keeps_what_it_logged(workspace, project):
    src = project("train.py", """
        import os, signal, time
        from runyard import Run
        run = Run.get_context()
        for i in range(100):
            run.log("step", i)
        time.sleep(1.5)  # the spool is written within a second
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    run = Experiment(workspace, "crash").submit(PyTorch(str(src), entry_script="train.py"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and "SIGKILL" in details["error"]["error"]["message"]
    assert run.get_metrics()["step"] == list(range(100))


def test_interactive_run_with_start_logging(workspace):
    run = Experiment(workspace, "notebook").start_logging()
    run.log("x", 1)
    run.log("x", 2)
    run.tag("where", "notebook")
    run.complete()
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"x": [1, 2]} and run.get_tags() == {"where": "notebook"}


def test_context_run_reads_its_own_metrics(workspace, project):
    src = project("train.py", """
        from runyard import Run
        run = Run.get_context()
        run.log("a", 1.5)
        assert run.get_metrics()["a"] == 1.5, run.get_metrics()
        assert run.experiment.name == "self"
        print("ok", run.id)
    """)
    run = Experiment(workspace, "self").submit(PyTorch(str(src), entry_script="train.py"))
    run.wait_for_completion()
    assert f"ok {run.id}" in run.folder.rank_log(0).read_text()


def test_child_runs_from_a_script_and_from_the_submitting_side(workspace, project):
    src = project("train.py", """
        from runyard import Run
        run = Run.get_context()
        for fold in range(2):
            child = run.child_run(name=f"fold-{fold}")
            child.log("fold_acc", 0.8 + fold / 10)
            child.complete()
        run.log("mean_acc", 0.85)
    """)
    parent = Experiment(workspace, "cv").submit(PyTorch(str(src), entry_script="train.py"))
    parent.wait_for_completion()
    folds = parent.get_children()
    assert sorted(c.display_name for c in folds) == ["fold-0", "fold-1"]
    assert all(c.get_status() == "Completed" and c.parent.id == parent.id for c in folds)
    # the child's metrics reached the store when it completed, before anyone read them
    assert sorted(s.key for s in workspace.store.metric_summaries(run_ids=[c.id for c in folds])) == \
        ["fold_acc", "fold_acc"]
    submitted = parent.submit_child(PyTorch(str(project("eval.py", "from runyard import Run\n"
                                                                   "Run.get_context().log('eval', 1)\n",
                                                        name="evalproj")), entry_script="eval.py"))
    submitted.wait_for_completion()
    nested = parent.get_metrics(recursive=True)
    assert nested[parent.id] == {"mean_acc": 0.85} and nested[submitted.id] == {"eval": 1}
    assert sorted(v["fold_acc"] for k, v in nested.items() if k in {c.id for c in folds}) == [0.8, 0.9]
    # as the service: an experiment's runs leave the children out unless asked
    assert [r.id for r in Experiment(workspace, "cv").get_runs()] == [parent.id]
    assert len(list(Experiment(workspace, "cv").get_runs(include_children=True))) == 4


def test_environment_definition_wins_over_package_parameters_and_says_so(workspace, project):
    from runyard.core import Environment

    env = Environment("mine")
    env.python.conda_dependencies.add_pip_package("tqdm")
    with pytest.warns(RunyardWarning, match="pip_packages=.*environment_definition takes precedence"):
        est = PyTorch(str(project("train.py", "print(1)\n")), entry_script="train.py", environment_definition=env,
                      pip_packages=["scikit-learn"])
    assert est.environment.pip_packages == ("tqdm",)
