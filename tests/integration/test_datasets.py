"""Datasets as the later SDK's training scripts use them: registered, versioned, consumed by name."""

from __future__ import annotations

import pytest

from runyard.core import Dataset, Experiment, ScriptRunConfig
from runyard.errors import InvalidValueError, WorkspaceError

pytestmark = pytest.mark.integration

SCRIPT = """
import argparse, os
from runyard.core import Run
run = Run.get_context()
p = argparse.ArgumentParser(); p.add_argument('--data-folder'); p.add_argument('--iris')
a = p.parse_args()
print('files:', sorted(os.listdir(a.data_folder)), flush=True)
print('same path:', run.input_datasets['mnist'] == a.data_folder, flush=True)
frame = run.input_datasets['iris'].to_pandas_dataframe()
print('iris:', frame.shape, list(frame.columns), flush=True)
"""


def test_file_and_tabular_datasets_registered_and_consumed_by_a_run(workspace, project, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    for name in ("train.gz", "test.gz"):
        (data / "mnist" / name).write_bytes(b"x")
    (data / "iris").mkdir()
    (data / "iris" / "iris.csv").write_text("sepal,petal,species\n5.1,1.4,setosa\n4.9,1.3,setosa\n6.2,4.5,versicolor\n")
    ds = workspace.get_default_datastore()
    ds.upload(str(data), show_progress=False)

    mnist = Dataset.File.from_files(path=(ds, "mnist/")).register(workspace, "mnist", description="digits")
    iris = Dataset.Tabular.from_delimited_files(path=[(ds, "iris/iris.csv")]).register(workspace, "iris")
    assert (mnist.name, mnist.version, mnist.id) == ("mnist", 1, "mnist:1")
    assert Dataset.get_by_name(workspace, "mnist").to_path() == ["/test.gz", "/train.gz"]
    assert sorted(p.rsplit("/", 1)[1] for p in mnist.download(str(tmp_path / "dl"))) == ["test.gz", "train.gz"]
    assert Dataset.get_by_name(workspace, "iris").to_pandas_dataframe().shape == (3, 3)

    config = ScriptRunConfig(str(project("train.py", SCRIPT)), script="train.py",
                             arguments=["--data-folder", mnist.as_named_input("mnist").as_mount(),
                                        "--iris", iris.as_named_input("iris")])
    run = Experiment(workspace, "datasets").submit(config)
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "files: ['test.gz', 'train.gz']" in out and "same path: True" in out
    assert "iris: (3, 3) ['sepal', 'petal', 'species']" in out


def test_dataset_versions_and_bad_inputs(workspace, tmp_path):
    ds = workspace.get_default_datastore()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "y.txt").write_text("2")
    ds.upload(str(tmp_path), target_path="sets", show_progress=False)
    first = Dataset.File.from_files((ds, "sets/a")).register(workspace, "set")
    assert Dataset.File.from_files((ds, "sets/a")).register(workspace, "set").version == 1  # same: no new version
    with pytest.raises(InvalidValueError, match="name='set'.*create_new_version=True"):
        Dataset.File.from_files((ds, "sets/b")).register(workspace, "set")
    second = Dataset.File.from_files((ds, "sets/b")).register(workspace, "set", create_new_version=True)
    assert (first.version, second.version) == (1, 2)
    assert Dataset.get_by_name(workspace, "set", version=1).to_path() == ["/x.txt"]
    assert Dataset.get_by_name(workspace, "set").to_path() == ["/y.txt"]
    with pytest.raises(InvalidValueError, match="path='workspaceblobstore/nope'.*Fix: upload it first"):
        Dataset.File.from_files((ds, "nope"))
    with pytest.raises(InvalidValueError, match="names several paths"):
        Dataset.File.from_files([(ds, "sets/a"), (ds, "sets/b")])
    with pytest.raises(Exception, match="path='https://example.org/x.csv'.*Fix: pass \\(datastore"):
        Dataset.Tabular.from_delimited_files("https://example.org/x.csv")
    with pytest.raises(WorkspaceError, match="dataset name='missing'"):
        Dataset.get_by_name(workspace, "missing")
    with pytest.raises(InvalidValueError, match="name='bad-name'"):
        first.as_named_input("bad-name")


def test_datastores_and_datasets_are_listed_by_the_cli_the_api_and_the_ui(workspace, tmp_path):
    import json
    import subprocess
    import sys

    from tests.web import SCREENSHOTS, get, served_page

    ds = workspace.get_default_datastore()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.csv").write_text("a\n1\n")
    ds.upload(str(tmp_path / "d"), target_path="tab", show_progress=False)
    Dataset.Tabular.from_delimited_files((ds, "tab/x.csv")).register(workspace, "table", description="one column")
    cli = [sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path)]
    listed = json.loads(subprocess.run([*cli, "datasets", "--json"], capture_output=True, text=True).stdout)
    assert [(d["name"], d["version"], d["kind"], d["path"]) for d in listed] == [("table", 1, "tabular", "tab/x.csv")]
    assert "workspaceblobstore  LocalFolder" in subprocess.run([*cli, "datastores"], capture_output=True,
                                                               text=True).stdout
    with served_page(workspace, tmp_path) as (base, page):
        assert json.loads(get(base + "/api/v1/datasets")[1])[0]["description"] == "one column"
        page.goto(base + "/")
        page.click("#nav-data")
        page.wait_for_selector("#datasets tbody tr")
        assert "tabular" in page.locator("#datasets tr[data-dataset='table']").inner_text()
        assert page.locator("#datastores tr[data-datastore='workspaceblobstore']").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "data-page.png"), full_page=True)
