"""Registering a trained model from a run, and finding it again (the seed page's next step)."""

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
