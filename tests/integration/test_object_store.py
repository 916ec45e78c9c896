"""A datastore in an object store (fsspec): a real S3 endpoint (moto's server) on loopback, real s3fs."""

from __future__ import annotations

import pytest

from runyard import Experiment
from runyard.data.datastore import Datastore
from runyard.errors import InvalidValueError, WorkspaceError
from runyard.train.dnn import PyTorch

pytest.importorskip("s3fs", reason="s3fs is not installed")
pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    import s3fs

    # credentials come from the environment, as they would for a real bucket
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint)
    fs.mkdir("training-data")
    yield fs
    fs.rm("training-data", recursive=True)


TRAIN = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument('--data'); p.add_argument('--one'); p.add_argument('--out')
a = p.parse_args()
print('data:', sorted(os.listdir(a.data)), 'one:', open(a.one).read(), flush=True)
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, 'score.txt'), 'w').write('0.97')
"""


def test_an_s3_datastore_feeds_a_run_and_takes_its_outputs(workspace, project, bucket, s3_endpoint, tmp_path, capsys):
    data = tmp_path / "digits"
    (data / "train").mkdir(parents=True)
    (data / "train" / "a.csv").write_text("1,2")
    (data / "labels.txt").write_text("cats")
    ds = Datastore.register_url(workspace, "s3data", "s3://training-data/projects",
                                storage_options={"endpoint_url": s3_endpoint})
    ds.upload(str(data), target_path="digits", show_progress=False)
    assert bucket.find("training-data/projects/digits") == ["training-data/projects/digits/labels.txt",
                                                            "training-data/projects/digits/train/a.csv"]
    again = workspace.datastores["s3data"]  # from the workspace config: the options, never a credential
    assert again.storage_options == {"endpoint_url": s3_endpoint} and "testing" not in \
        (workspace.path / "config.json").read_text()
    est = PyTorch(str(project("train.py", TRAIN)), entry_script="train.py",
                  script_params={"--data": again.path("digits").as_mount(),
                                 "--one": again.path("digits/labels.txt").as_download(),
                                 "--out": "outputs/res"},
                  inputs=[again.path("results/run1").as_upload(path_on_compute="outputs/res")])
    run = Experiment(workspace, "s3").submit(est)
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "data: ['labels.txt', 'train'] one: cats" in out
    assert "mount (a download: nothing to mount for a URL) s3data/digits" in out
    assert bucket.cat("training-data/projects/results/run1/score.txt") == b"0.97"
    assert ds.download(str(tmp_path / "back"), prefix="results", show_progress=False) == 1
    assert (tmp_path / "back" / "results" / "run1" / "score.txt").read_text() == "0.97"


def test_object_store_registration_refuses_credentials_and_unknown_schemes(workspace):
    with pytest.raises(InvalidValueError, match="storage_options='secret'.*Fix: leave credentials to the environment"):
        Datastore.register_url(workspace, "s3x", "s3://b", storage_options={"secret": "x", "endpoint_url": "y"})
    with pytest.raises(WorkspaceError, match="url='nosuchscheme://b'.*Fix: install the fsspec backend"):
        Datastore.register_url(workspace, "weird", "nosuchscheme://b")
    with pytest.raises(InvalidValueError, match="url='/not/a/url'"):
        Datastore.register_url(workspace, "local", "/not/a/url")
    assert set(workspace.datastores) == {"workspaceblobstore"}  # nothing was registered
