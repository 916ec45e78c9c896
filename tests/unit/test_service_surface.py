"""Small parts of the service's surface that public notebooks lean on."""

from __future__ import annotations

import pytest

from runyard.core import Workspace
from runyard.errors import InvalidValueError
from runyard.script_run_config import split_command


def test_workspace_identity_attributes_are_strings_and_keep_what_create_was_given(tmp_path, monkeypatch):
    plain = Workspace(tmp_path / "plain")
    assert (plain.subscription_id, plain.resource_group, plain.location) == ("local", "local", "local")
    made = Workspace.create(name="ws1", path=tmp_path / "made", subscription_id="sub-1", resource_group="rg",
                            create_resource_group=True, location="eastus2")
    again = Workspace(tmp_path / "made")
    assert (again.name, again.subscription_id, again.resource_group, again.location) == \
        ("ws1", "sub-1", "rg", "eastus2")
    assert made.get_details()["location"] == "eastus2"
    monkeypatch.chdir(tmp_path / "plain" / "..")
    positional = Workspace("sub-2", "rg-2", "named")  # the service's Workspace(subscription, group, name)
    assert positional.path == (tmp_path / ".runyard").resolve() and positional.resource_group == "rg-2"
    with pytest.raises(InvalidValueError, match="colour"):
        Workspace(tmp_path / "x", colour="red")


@pytest.mark.parametrize("command,expected", [
    ("python train.py --lr 0.1", ("train.py", ["--lr", "0.1"], "")),
    (["python", "train.py", "--epochs", 5], ("train.py", ["--epochs", "5"], "")),
    (["python train.py --epochs 5"], ("train.py", ["--epochs", "5"], "")),
    ("torchrun --nproc_per_node 2 train.py", ("train.py", None, "torchrun --nproc_per_node 2 train.py")),
    ("python train.py --rank $NODE_RANK", ("train.py", None, "python train.py --rank $NODE_RANK")),
    ("python train.py && echo ok", ("train.py", None, "python train.py && echo ok")),
    (["bash", "run.sh"], (None, None, "bash run.sh")),
])
def test_a_command_runs_directly_when_it_is_plain_python_and_under_bash_otherwise(command, expected):
    assert split_command(command, None, []) == expected


@pytest.mark.parametrize("command,arguments,field", [
    ("", None, "command"), ([], None, "command"), ("python 'unclosed", None, "command"),
    ("python train.py", ["--x", 1], "arguments"),
])
def test_bad_commands_name_the_field(command, arguments, field):
    with pytest.raises(Exception, match=f"^{field}="):
        split_command(command, arguments, [])


def test_the_services_own_sdk_packages_are_not_installed():
    from runyard.environments.build import requirement_lines
    from runyard.spec import EnvironmentSpec

    said: list[str] = []
    spec = EnvironmentSpec(pip_packages=("azureml-defaults", "azureml-core>=1.0", "Azureml_SDK", "tqdm"))
    assert requirement_lines(spec, said.append) == ["tqdm"]
    assert said == ["not installed: azureml-defaults, azureml-core>=1.0, Azureml_SDK "
                    "(the service's SDK; runyard provides its API as runyard.*)"]


def test_model_path_inside_a_deployment_with_one_or_several_models(tmp_path, monkeypatch):
    from runyard.core.model import Model

    root = tmp_path / "azureml-models"
    (root / "birds" / "1").mkdir(parents=True)
    (root / "birds" / "1" / "model.pt").write_bytes(b"1")
    (root / "cats" / "3" / "weights").mkdir(parents=True)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(root / "birds" / "1"))
    assert Model.get_model_path("birds") == str(root / "birds" / "1" / "model.pt")
    with pytest.raises(Exception, match="model_name='cats'"):
        Model.get_model_path("cats")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(root))
    assert Model.get_model_path("cats") == str(root / "cats" / "3" / "weights")
    assert Model.get_model_path("birds", version=1) == str(root / "birds" / "1" / "model.pt")
    with pytest.raises(InvalidValueError, match="version=2"):
        Model.get_model_path("birds", version=2)


def test_a_service_config_json_names_a_workspace_beside_it_and_is_never_written(tmp_path, monkeypatch):
    import json

    from runyard.errors import WorkspaceError

    service = {"subscription_id": "sub-9", "resource_group": "rg-9", "workspace_name": "birds-ws"}
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(service))
    (tmp_path / "config.json").write_text(json.dumps(service))
    deeper = tmp_path / "src" / "models"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    found = Workspace.from_config()
    assert found.path == tmp_path.resolve() / ".runyard"
    assert (found.name, found.subscription_id, found.resource_group) == ("birds-ws", "sub-9", "rg-9")
    assert Workspace.from_config(path=str(tmp_path / "config.json")) == found
    assert Workspace.from_config() == found  # found again through .runyard now
    found.update_config("datastores", "x", {"path": str(tmp_path)})
    assert json.loads((tmp_path / "config.json").read_text()) == service  # the user's file, untouched
    with pytest.raises(WorkspaceError, match="service's"):
        Workspace(tmp_path, create=False)


def test_datastore_download_prefix_is_a_string_prefix_of_the_path_as_in_a_blob_store(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ds = ws.get_default_datastore()
    source = tmp_path / "src"
    (source / "results").mkdir(parents=True)
    (source / "result.txt").write_text("1")
    (source / "results" / "r.txt").write_text("2")
    (source / "other.txt").write_text("3")
    ds.upload(str(source), target_path="run1", show_progress=False)
    assert ds.download(str(tmp_path / "out"), prefix="run1/result", show_progress=False) == 2
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.txt")) == \
        ["run1/result.txt", "run1/results/r.txt"]
    with pytest.raises(InvalidValueError, match="prefix='../x'"):
        ds.download(str(tmp_path / "out"), prefix="../x")


def test_environment_from_pip_requirements_fills_its_conda_dependencies(tmp_path):
    from runyard.core import Environment

    req = tmp_path / "requirements.txt"
    req.write_text("# training\ntqdm>=4  # progress\n--extra-index-url https://example.org/simple\nscikit-learn\n")
    env = Environment.from_pip_requirements("reqs", str(req))
    assert env.python.conda_dependencies.pip_packages == ["tqdm>=4", "scikit-learn"]
    spec = env.to_spec()
    assert spec.pip_packages == ("tqdm>=4", "scikit-learn")
    assert spec.pip_requirements == "--extra-index-url https://example.org/simple\n"
    with pytest.raises(InvalidValueError, match="file_path="):
        Environment.from_pip_requirements("x", str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("name", ["../escape", "Upper", "a", "has space", "x" * 40, 7])
def test_a_bad_service_name_is_refused_before_anything_is_written(tmp_path, name):
    from runyard.core.model import InferenceConfig, Model

    ws = Workspace(tmp_path / "ws")
    (tmp_path / "m.bin").write_bytes(b"1")
    (tmp_path / "score.py").write_text("def init():\n    pass\ndef run(raw):\n    return raw\n")
    model = Model.register(ws, str(tmp_path / "m.bin"), "m")
    config = InferenceConfig("score.py", source_directory=str(tmp_path))
    with pytest.raises(InvalidValueError, match=r"^name=.*Fix: use 3-32 lowercase"):
        Model.deploy(ws, name, [model], config)
    assert not (ws.path / "services").exists() and not (tmp_path / "escape").exists()


def test_a_scoring_script_outside_its_source_directory_is_refused(tmp_path):
    from runyard.core.model import InferenceConfig

    (tmp_path / "src").mkdir()
    (tmp_path / "score.py").write_text("def run(raw):\n    return raw\n")
    with pytest.raises(InvalidValueError, match="entry_script='../score.py': is outside source_directory"):
        InferenceConfig("../score.py", source_directory=str(tmp_path / "src"))
