"""Registering a trained model from a run, and finding it again (the seed page's next step)."""

import json
import urllib.error
import urllib.request

import pytest

from runyard import Experiment, Model
from runyard.errors import RunyardError
from runyard.train.dnn import PyTorch

pytestmark = pytest.mark.integration


def test_register_model_from_a_run_and_download_it(workspace, project, tmp_path, monkeypatch):
    src = project("train.py", "import os\nos.makedirs('outputs/ckpt', exist_ok=True)\n"
                              "open('outputs/model.pt','wb').write(b'weights')\n"
                              "open('outputs/ckpt/a.bin','wb').write(b'a')\n")
    run = Experiment(workspace, "models").submit(PyTorch(str(src), entry_script="train.py"))
    run.wait_for_completion()
    first = run.register_model(model_name="digits", model_path="outputs/model.pt", tags={"acc": 0.97})
    second = run.register_model(model_name="digits", model_path="outputs/model.pt")
    folder = run.register_model(model_name="ckpt", model_path="outputs/ckpt")
    assert (first.version, second.version) == (1, 2)
    assert first.tags == {"acc": "0.97"} and first.properties["runId"] == run.id and first.run_id == run.id
    latest = Model(workspace, "digits")
    assert latest.version == 2 and Model(workspace, "digits", version=1).tags == {"acc": "0.97"}
    assert [m.id for m in Model.list(workspace)] == ["ckpt:1", "digits:1", "digits:2"]
    path = latest.download(target_dir=str(tmp_path / "dl"))
    assert open(path, "rb").read() == b"weights"
    assert (tmp_path / "f" / "ckpt" / "a.bin").exists() is False
    folder.download(target_dir=str(tmp_path / "f"))
    assert (tmp_path / "f" / "ckpt" / "a.bin").read_bytes() == b"a"
    assert Model.get_model_path("digits", _workspace=workspace).endswith("digits/2/model.pt")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(latest.path))
    assert Model.get_model_path("model.pt").endswith("digits/2/model.pt")  # inside a scoring script
    with pytest.raises(RunyardError, match="model_path='outputs/missing.pt'"):
        run.register_model("x", model_path="outputs/missing.pt")
    with pytest.raises(RunyardError, match="model_name='nope'"):
        Model(workspace, "nope")


def test_deploy_a_registered_model_as_a_local_web_service(workspace, project, tmp_path):
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import LocalWebservice, WebserviceException

    weights = tmp_path / "model.json"
    weights.write_text('{"scale": 3}')
    model = Model.register(workspace, str(weights), "scaler")
    src = project("score.py", """
        import json, os
        def init():
            global scale
            path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.json")
            scale = json.load(open(path))["scale"]
            print("init done", flush=True)
        def run(raw):
            data = json.loads(raw)["data"]
            if data == "boom":
                raise ValueError("bad input")
            return [x * scale for x in data]
    """, name="serving")
    config = InferenceConfig(entry_script="score.py", source_directory=str(src))
    service = Model.deploy(workspace, "scaler-svc", [model], config, LocalWebservice.deploy_configuration())
    try:
        service.wait_for_deployment(show_output=False)
        assert service.state == "Healthy"
        assert service.run(json.dumps({"data": [1, 2]})) == [3, 6]
        assert service.run({"data": [5]}) == [15]
        with pytest.raises(WebserviceException, match="ValueError: bad input"):
            service.run({"data": "boom"})
        request = urllib.request.Request(service.scoring_uri, data=b'{"data": "boom"}',
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=30)
        body = json.loads(failed.value.read())
        assert failed.value.code == 500 and body["error"] == "ValueError: bad input"
        assert "Traceback" not in json.dumps(body) and str(src) not in json.dumps(body)  # no server paths
        logs = service.get_logs()
        assert "init done" in logs and "Traceback" in logs and "ValueError: bad input" in logs
        with pytest.raises(RunyardError, match="name='scaler-svc'"):
            Model.deploy(workspace, "scaler-svc", [model], config)
    finally:
        pid = json.loads((service.folder / "service.json").read_text())["pid"]
        service.delete()
    import psutil

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_models_and_services_are_listed_by_the_cli_the_api_and_the_ui(workspace, project, tmp_path):
    import subprocess
    import sys

    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import LocalWebservice
    from tests.web import SCREENSHOTS, get, served_page

    weights = tmp_path / "model.json"
    weights.write_text('{"scale": 2}')
    first = Model.register(workspace, str(weights), "scaler", tags={"stage": "dev"})
    second = Model.register(workspace, str(weights), "scaler")
    src = project("score.py", "def init():\n    pass\ndef run(raw):\n    return raw\n", name="serving")
    service = Model.deploy(workspace, "scaler-svc", [second], InferenceConfig("score.py", source_directory=str(src)),
                           LocalWebservice.deploy_configuration())
    cli = [sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path)]
    try:
        listed = json.loads(subprocess.run([*cli, "models", "--json"], capture_output=True, text=True).stdout)
        assert [m["id"] for m in listed] == ["scaler:2", "scaler:1"] and listed[1]["tags"] == {"stage": "dev"}
        table = subprocess.run([*cli, "services"], capture_output=True, text=True).stdout
        assert "scaler-svc" in table and "Healthy" in table and service.scoring_uri in table
        with served_page(workspace, tmp_path) as (base, page):
            assert [s["name"] for s in json.loads(get(base + "/api/v1/services")[1])] == ["scaler-svc"]
            assert [m["version"] for m in json.loads(get(base + "/api/v1/models")[1])] == [2, 1]
            page.goto(base + "/")
            page.click("#nav-models")
            page.wait_for_selector("#models tbody tr")
            assert page.locator("#models tbody tr").count() == 2
            assert "stage=dev" in page.locator(f"#models tr[data-model='{first.id}']").inner_text()
            row = page.locator("#services tr[data-service='scaler-svc']").inner_text()
            assert "Healthy" in row and service.scoring_uri in row and "scaler:2" in row
            page.screenshot(path=str(SCREENSHOTS / "models-page.png"), full_page=True)
    finally:
        service.delete()


def test_model_framework_tags_delete_and_the_workspace_views(workspace, tmp_path):
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"w")
    first = Model.register(workspace, str(weights), "net", model_framework=Model.Framework.PYTORCH,
                           model_framework_version="2.13", tags={"stage": "dev"})
    second = Model.register(workspace, str(weights), "net")
    assert Model(workspace, "net", version=1).model_framework == "PyTorch"
    first.add_tags({"stage": "prod", "owner": "me"})
    first.remove_tags("owner")
    first.add_properties({"accuracy": 0.97})
    again = Model(workspace, "net", version=1)
    assert again.tags == {"stage": "prod"} and again.properties == {"accuracy": "0.97"}
    assert workspace.models["net"].version == 2 and workspace.webservices == {}
    second.delete()
    assert workspace.models["net"].version == 1 and not second.path.exists()
    assert [m.id for m in Model.list(workspace)] == ["net:1"]
