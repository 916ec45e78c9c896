import sqlite3
import time

import pytest

from runyard.errors import InvalidValueError, RunNotFoundError
from runyard.status import RunStatus
from runyard.store import RunRecord, SpoolEvent, SqliteStore


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "runyard.db")


def new_run(store, run_id="r1", experiment="exp"):
    return store.create_run(RunRecord(run_id=run_id, experiment=experiment, status=RunStatus.QUEUED, target="local",
                                      created_time=time.time()))


def test_database_is_in_wal_mode(store, tmp_path):
    mode = sqlite3.connect(tmp_path / "runyard.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_runs_are_numbered_per_experiment_and_listed_newest_first(store):
    new_run(store, "a")
    new_run(store, "b")
    new_run(store, "c", experiment="other")
    assert [r.number for r in store.list_runs("exp")] == [2, 1]
    assert [r.run_id for r in store.list_runs()] == ["c", "b", "a"]
    assert store.list_experiments() == ["exp", "other"]


def test_every_status_is_written_with_its_time_and_terminal_is_final(store):
    new_run(store)
    for s in (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.FINALIZING, RunStatus.COMPLETED):
        assert store.set_status("r1", s, time.time())
    assert not store.set_status("r1", RunStatus.FAILED, time.time())  # a finished run stays finished
    events = store.status_events("r1")
    assert [e.status for e in events] == [RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING,
                                          RunStatus.RUNNING, RunStatus.FINALIZING, RunStatus.COMPLETED]
    assert all(a.time <= b.time for a, b in zip(events, events[1:]))
    record = store.get_run("r1")
    assert record.start_time and record.end_time and record.status is RunStatus.COMPLETED


def test_ingest_is_exactly_once_per_offset(store):
    new_run(store)
    events = [SpoolEvent("scalar", "loss", 0.5, 0, 0, 1.0), SpoolEvent("tag", "k", "v")]
    assert store.ingest("r1", events, "rank-0.1.jsonl", 0, 100)
    assert not store.ingest("r1", events, "rank-0.1.jsonl", 0, 100)  # a second ingester lost the race
    assert store.spool_offsets("r1") == {"rank-0.1.jsonl": 100}
    assert [kv.values for kv in store.metric_values("r1")] == [[0.5]]
    assert store.get_tags("r1") == {"k": "v"}


def test_properties_are_write_once(store):
    new_run(store)
    store.add_properties("r1", {"a": "1"})
    store.add_properties("r1", {"a": "1", "b": "2"})
    with pytest.raises(InvalidValueError, match="properties"):
        store.add_properties("r1", {"a": "other"})
    assert store.get_run("r1").properties == {"a": "1", "b": "2"}


def test_unknown_and_ambiguous_ids(store):
    new_run(store, "exp_1_aaa")
    new_run(store, "exp_1_aab")
    assert store.resolve_run_id("exp_1_aaa") == "exp_1_aaa"
    with pytest.raises(InvalidValueError, match="several runs"):
        store.resolve_run_id("exp_1_aa")
    with pytest.raises(RunNotFoundError, match="runyard runs"):
        store.get_run("missing")


def test_two_connections_write_concurrently(tmp_path):
    a, b = SqliteStore(tmp_path / "db"), SqliteStore(tmp_path / "db")
    new_run(a, "x")
    new_run(b, "y")
    assert {r.run_id for r in a.list_runs()} == {"x", "y"}


def test_numeric_series_are_chunked_with_summaries(store):
    import math

    from runyard.tracking.query import get_series, ranks_of, run_table

    new_run(store)
    batch1 = [SpoolEvent("scalar", "loss", float(10 - i), i, 0, 100.0 + i) for i in range(10)]
    batch2 = [SpoolEvent("scalar", "loss", v, 10 + i, 0, 200.0 + i) for i, v in enumerate([50.0, math.nan, -3.0])]
    other_rank = [SpoolEvent("scalar", "loss", 7, 0, 1, 1.0), SpoolEvent("scalar", "count", 3, None, 0, 1.0)]
    store.ingest("r1", batch1, "a", 0, 1)
    store.ingest("r1", batch2 + other_rank, "a", 1, 2)
    (summary,) = [s for s in store.metric_summaries(["r1"], rank=0) if s.key == "loss"]
    assert (summary.count, summary.last, summary.min, summary.max, summary.last_step) == (13, -3.0, -3.0, 50.0, 12)
    assert run_table(store, ["r1"])["r1"].latest() == {"loss": -3.0, "count": 3}
    assert ranks_of(store, "r1", "loss") == [0, 1]
    series = get_series(store, "r1", "loss", step_range=(5, 11))
    assert series.steps == [5, 6, 7, 8, 9, 10, 11] and series.values[-1] is None  # NaN -> None for JSON
    by_key = {kv.key: kv for kv in store.metric_values("r1", rank=0)}
    assert by_key["count"].values == [3] and isinstance(by_key["count"].values[0], int)


def test_downsampling_keeps_extremes():
    import numpy as np

    from runyard.tracking.query import downsample_indices

    values = np.sin(np.linspace(0, 20, 1_000_000))
    values[123_457] = 99.0
    values[765_432] = -99.0
    keep = downsample_indices(values, 2000)
    assert len(keep) <= 2000 and 123_457 in keep and 765_432 in keep and keep[0] == 0 and keep[-1] == 999_999
