import dataclasses
import json

import pytest

from runyard.errors import InvalidValueError
from runyard.spec import Backend, DataBinding, DataMode, EnvironmentSpec, JobSpec, Limits, Resources


def make_spec(**overrides):
    base = dict(experiment="e", entry_script="train.py", snapshot_digest="abc", arguments=("--lr", "0.1"),
                environment=EnvironmentSpec(pip_packages=("numpy",)), resources=Resources(2, 2),
                backend=Backend.GLOO, limits=Limits(60.0, 1),
                inputs=(DataBinding("ds_data", "ds", "/data", "data", DataMode.DOWNLOAD),))
    base.update(overrides)
    return JobSpec(**base)


def test_json_round_trip_keeps_every_field():
    spec = make_spec()
    again = JobSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(spec.to_json())["backend"] == "gloo"


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_spec().entry_script = "other.py"


def test_several_ranks_need_a_backend():
    with pytest.raises(InvalidValueError, match="distributed_backend"):
        make_spec(backend=None)


def test_nccl_needs_gpus():
    with pytest.raises(InvalidValueError, match="use_gpu"):
        make_spec(backend=Backend.NCCL)


def test_environment_digest_ignores_name_and_variables_but_not_packages():
    a = EnvironmentSpec(name="a", pip_packages=("numpy",), variables=(("X", "1"),))
    b = EnvironmentSpec(name="b", pip_packages=("numpy",))
    c = EnvironmentSpec(pip_packages=("numpy==2.0",))
    assert a.digest() == b.digest() != c.digest()


def test_data_binding_token_and_variable():
    b = DataBinding("workspaceblobstore", "workspaceblobstore", "/x", "", DataMode.MOUNT)
    assert b.token == "$AZUREML_DATAREFERENCE_workspaceblobstore"
    assert b.env_var == "AZUREML_DATAREFERENCE_workspaceblobstore"
