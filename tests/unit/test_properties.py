"""Property-based tests (Hypothesis, bounded so CI stays quick): whatever a script logs is either stored
and read back, or refused at log() with a ValidationError; any spool line is stored or left out without
stopping the others; the server answers any query or path parameter with a status below 500; and every
public constructor refuses bad input with runyard's own error, never another exception."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runyard.errors import RunyardError, ValidationError
from runyard.status import RunStatus
from runyard.store.base import RunRecord
from runyard.store.sqlite import SqliteStore
from runyard.tracking.ingest import ingest_once, parse_events
from runyard.tracking.logging_api import MetricLogging
from runyard.tracking.spool import SpoolWriter

# CI runs a bounded number of examples; RUNYARD_HYPOTHESIS_EXAMPLES=2000 searches deeper
EXAMPLES = int(os.environ.get("RUNYARD_HYPOTHESIS_EXAMPLES", "60"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

names = st.text(min_size=0, max_size=40)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**400),
                                                                                  max_value=10**400))
values = st.one_of(numbers, st.text(max_size=30), st.booleans(), st.none(), st.lists(st.integers(), max_size=3),
                   st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
steps = st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=3))


class _Handle(MetricLogging):
    def __init__(self, writer: SpoolWriter) -> None:
        self._writer = writer

    def _sink(self) -> SpoolWriter:
        return self._writer

    def flush(self) -> None:
        self._writer.flush()


def _store_with_run(tmp: Path) -> tuple[SqliteStore, str]:
    store = SqliteStore(tmp / "runyard.db")
    run_id = f"p_{time.time_ns()}"
    store.create_run(RunRecord(run_id=run_id, experiment="p", status=RunStatus.RUNNING, target="local",
                               created_time=time.time()))
    return store, run_id


@BOUNDED
@given(name=names, value=values, step=steps)
def test_log_stores_or_refuses_any_value_step_and_name(tmp_path_factory, name, value, step):
    tmp = tmp_path_factory.mktemp("log")
    store, run_id = _store_with_run(tmp)
    writer = SpoolWriter(tmp / "spool", 0)
    handle = _Handle(writer)
    try:
        handle.log(name, value, step=step)
        accepted = True
    except ValidationError:
        accepted = False
    writer.close()
    ingest_once(store, run_id, tmp / "spool")
    stored = store.metric_values(run_id)
    if not accepted:
        assert stored == []
        return
    assert [kv.key for kv in stored] == [name]
    got = stored[0].values[0]
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(got, float) and math.isnan(got)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        assert got == value or got == float(value)
    else:
        assert got == value
    assert store.get_run(run_id).status is RunStatus.RUNNING  # readers still work
    store.close()


line_fields = st.tuples(st.one_of(st.sampled_from(["scalar", "list", "row", "table", "image", "tag", "property"]),
                                  st.text(max_size=8)),
                        st.one_of(st.text(max_size=10), st.integers()), values, steps,
                        st.one_of(st.floats(), st.integers(), st.text(max_size=3)),
                        st.one_of(st.text(max_size=5), st.none(), st.integers()))
raw_lines = st.one_of(line_fields.map(lambda f: json.dumps(list(f)).encode()),
                      st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b))


@BOUNDED
@given(lines=st.lists(raw_lines, min_size=1, max_size=8))
def test_any_spool_lines_are_stored_or_left_out_and_never_stop_the_others(tmp_path_factory, lines):
    tmp = tmp_path_factory.mktemp("spool")
    store, run_id = _store_with_run(tmp)
    good = json.dumps(["scalar", "sentinel", 1.5, 3, 1.0, ""]).encode()
    spool = tmp / "spool"
    spool.mkdir()
    (spool / "rank-0.1.jsonl").write_bytes(b"\n".join([*lines, good]) + b"\n")
    rejected: list[str] = []
    expected = parse_events(b"\n".join(lines) + b"\n", 0, rejected)
    ingest_once(store, run_id, spool)
    by_key = {kv.key: kv.values for kv in store.metric_values(run_id, rank=0)}
    assert by_key["sentinel"][-1] == 1.5  # the line after every bad one is stored
    assert store.spool_offsets(run_id)["rank-0.1.jsonl"] == (spool / "rank-0.1.jsonl").stat().st_size
    metrics = [e for e in expected if e.kind not in ("tag", "property")]
    assert sum(len(v) for k, v in by_key.items()) == len(metrics) + 1
    store.metric_summaries([run_id])
    store.get_tags(run_id)
    store.close()


# -- the server's parameters ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from runyard import Experiment, Workspace
    from runyard.server.app import create_app

    ws = Workspace(tmp_path_factory.mktemp("served") / "ws")
    run = Experiment(ws, "p").start_logging(outputs=str(tmp_path_factory.mktemp("out")))
    run.log("loss", 0.5)
    run.complete()
    with TestClient(create_app(ws), base_url="http://127.0.0.1") as c:
        yield c, run.id


query_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@BOUNDED
@given(status=query_text, offset=query_text, limit=query_text, sort=query_text, order=query_text, q=query_text)
def test_the_runs_listing_answers_any_query_without_a_500(client, status, offset, limit, sort, order, q):
    c, _ = client
    params = {"status": status, "offset": offset, "limit": limit, "sort": sort, "order": order, "q": q}
    response = c.get("/api/v1/runs", params=params)
    assert response.status_code < 500, (params, response.text)


path_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@BOUNDED
@given(run_id=path_text, key=path_text, name=path_text, rank=query_text)
def test_run_paths_answer_any_parameter_without_a_500(client, run_id, key, name, rank):
    from urllib.parse import quote

    c, real = client
    for rid in (run_id, real):
        for path in (f"/api/v1/runs/{quote(rid, safe='')}", f"/api/v1/runs/{quote(rid, safe='')}/metrics",
                     f"/api/v1/runs/{quote(rid, safe='')}/metrics/{quote(key, safe='')}/series?rank={quote(rank)}",
                     f"/api/v1/runs/{quote(rid, safe='')}/files/{quote(name, safe='/')}",
                     f"/api/v1/runs/{quote(rid, safe='')}/logs/{quote(rank, safe='')}"):
            response = c.get(path)
            assert response.status_code < 500, (path, response.text)
        response = c.put(f"/api/v1/runs/{quote(rid, safe='')}/files/{quote(name, safe='/')}", content=b"x")
        assert response.status_code < 500, (name, response.text)


# -- constructors ---------------------------------------------------------------------------------------------
anything = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(),
                     st.text(max_size=12), st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.integers()), max_size=2))


def _constructors(src: Path):
    from runyard.core import Environment, ScriptRunConfig
    from runyard.core.runconfig import MpiConfiguration, PyTorchConfiguration
    from runyard.train.dnn import PyTorch
    from runyard.train.hyperdrive import (BanditPolicy, HyperDriveConfig, RandomParameterSampling, choice,
                                          loguniform, normal, quniform, randint, uniform)

    est = PyTorch(str(src), entry_script="train.py")
    return {
        "PyTorch.node_count": lambda v: PyTorch(str(src), entry_script="train.py", node_count=v,
                                                distributed_backend="gloo"),
        "PyTorch.process_count_per_node": lambda v: PyTorch(str(src), entry_script="train.py",
                                                            process_count_per_node=v, distributed_backend="gloo"),
        "PyTorch.script_params": lambda v: PyTorch(str(src), entry_script="train.py", script_params=v),
        "PyTorch.environment_variables": lambda v: PyTorch(str(src), entry_script="train.py",
                                                           environment_variables=v),
        "PyTorch.max_run_duration_seconds": lambda v: PyTorch(str(src), entry_script="train.py",
                                                              max_run_duration_seconds=v),
        "PyTorch.pip_packages": lambda v: PyTorch(str(src), entry_script="train.py", pip_packages=v),
        "PyTorch.distributed_backend": lambda v: PyTorch(str(src), entry_script="train.py", distributed_backend=v),
        "ScriptRunConfig.arguments": lambda v: ScriptRunConfig(str(src), "train.py", arguments=v),
        "ScriptRunConfig.script": lambda v: ScriptRunConfig(str(src), v),
        "MpiConfiguration": lambda v: ScriptRunConfig(str(src), "train.py",
                                                      distributed_job_config=MpiConfiguration(v)),
        "PyTorchConfiguration": lambda v: ScriptRunConfig(str(src), "train.py", distributed_job_config=
                                                          PyTorchConfiguration("Gloo", process_count=v)),
        "Environment": lambda v: Environment(v),
        "choice": lambda v: choice(v),
        "randint": lambda v: randint(v),
        "uniform": lambda v: uniform(v, 1.0),
        "quniform": lambda v: quniform(0.0, 1.0, v),
        "loguniform": lambda v: loguniform(-1.0, v),
        "normal": lambda v: normal(0.0, v),
        "BanditPolicy": lambda v: BanditPolicy(slack_factor=v),
        "HyperDriveConfig.max_total_runs": lambda v: HyperDriveConfig(
            RandomParameterSampling({"--x": choice(1, 2)}), "acc", "MAXIMIZE", v, estimator=est),
        "HyperDriveConfig.max_concurrent_runs": lambda v: HyperDriveConfig(
            RandomParameterSampling({"--x": choice(1, 2)}), "acc", "MAXIMIZE", 4, max_concurrent_runs=v,
            estimator=est),
        "HyperDriveConfig.max_duration_minutes": lambda v: HyperDriveConfig(
            RandomParameterSampling({"--x": choice(1, 2)}), "acc", "MAXIMIZE", 4, max_duration_minutes=v,
            estimator=est),
    }


@pytest.fixture(scope="module")
def constructors(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "train.py").write_text("print(1)\n")
    return _constructors(src)


@settings(max_examples=max(25, EXAMPLES // 2), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=anything)
def test_every_public_constructor_accepts_or_refuses_with_a_runyard_error(constructors, value):
    for name, make in constructors.items():
        try:
            make(value)
        except RunyardError:
            pass  # refused with the field, the value and the fix
        except Exception as e:  # noqa: BLE001 - anything else is a defect
            raise AssertionError(f"{name}({value!r}) raised {type(e).__name__}: {e}") from e
