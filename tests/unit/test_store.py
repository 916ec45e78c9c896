import sqlite3
import time

import pytest

from runyard.errors import InvalidValueError, RunNotFoundError
from runyard.status import RunStatus
from runyard.store import RunRecord, SpoolEvent, SqliteStore

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def open_store(request, tmp_path):
    """A function that opens the store under test again (a second process's view of it), per engine."""
    opened = []
    if request.param == "sqlite":
        target = tmp_path / "runyard.db"

        def make():
            opened.append(SqliteStore(target))
            return opened[-1]
    else:
        from runyard.store.postgres import PostgresStore

        uri = request.getfixturevalue("postgres_uri")

        def make():
            opened.append(PostgresStore(uri))
            return opened[-1]
    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store):
    return open_store()


def new_run(store, run_id="r1", experiment="exp"):
    return store.create_run(RunRecord(run_id=run_id, experiment=experiment, status=RunStatus.QUEUED, target="local",
                                      created_time=time.time()))


def test_database_is_in_wal_mode(tmp_path):
    SqliteStore(tmp_path / "runyard.db")
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


def test_two_connections_write_concurrently(open_store):
    a, b = open_store(), open_store()
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


@pytest.mark.parametrize("stepless", [False, True])
def test_a_long_series_is_charted_from_its_rollup_as_from_its_points(store, stepless):
    """Chunks of uneven sizes (as batched ingests write them), a spike, a dip, NaN and inf: the chart read from the
    rollup has the points' extremes, gaps and x positions; a series whose chunks lack a rollup (written before
    rollups existed) is read from its points."""
    import numpy as np

    from runyard.tracking.chart_data import chart_series

    new_run(store)
    values = np.cos(np.arange(90_001) / 5000.0)
    values[12_345], values[70_001] = 40.0, -40.0
    values[30_000:30_500] = np.nan  # a gap wider than a bucket
    values[50_000] = np.inf
    offset, start = 0, 0
    for size in (7, 20_000, 33, 45_000, 24_961):
        events = [SpoolEvent("scalar", "loss", float(values[i]), None if stepless else 10 * i, 0, 1e9 + i)
                  for i in range(start, start + size)]
        store.ingest("r1", events, "rank-0.1.jsonl", offset, offset + 1)
        offset, start = offset + 1, start + size
    assert store.metric_rollup("r1", "loss").total == 90_001
    drawn = chart_series(store, "r1", "loss", 0, 600)
    exact = chart_series(store, "r1", "loss", 0, 600, step_range=(-1.0, 1e12))  # a range: always the points
    assert drawn.total == exact.total == 90_001 and 540 <= len(drawn.steps) <= 660
    assert not np.array_equal(drawn.steps, exact.steps)  # whole groups, not the points' exact buckets
    assert np.nanmax(drawn.high) == 40.0 and np.nanmin(drawn.low) == -40.0
    x = np.arange(90_001) * (1 if stepless else 10)
    assert drawn.steps[0] == 0 and np.all(np.diff(drawn.steps) > 0) and set(drawn.steps) <= set(x)
    gap = (drawn.steps > x[30_000]) & (drawn.steps < x[30_300])  # buckets (~150 points) inside the NaN run
    assert gap.any() and np.isnan(drawn.values[gap]).all()  # gaps
    assert np.isfinite(drawn.values[~np.isnan(drawn.values)]).all()  # inf is a gap, not a line to infinity
    between = np.interp(exact.steps, drawn.steps, np.nan_to_num(drawn.values))
    calm = np.isfinite(exact.values) & (np.abs(exact.values) < 2) & ~np.isnan(np.interp(exact.steps, drawn.steps,
                                                                                       drawn.values))
    assert np.abs(between[calm] - exact.values[calm]).max() < 0.05
    # without rollups (an older workspace's series): read from the points, as exactly as before
    with store._tx() as tx:
        tx.execute("DELETE FROM metric_rollups WHERE run_id=? AND seq=(SELECT MIN(seq) FROM metric_rollups)", ("r1",))
    assert store.metric_rollup("r1", "loss") is None
    again = chart_series(store, "r1", "loss", 0, 600)
    assert np.array_equal(again.steps, exact.steps) and np.array_equal(again.high, exact.high, equal_nan=True)


def test_downsampling_keeps_extremes():
    import numpy as np

    from runyard.tracking.query import downsample_indices

    values = np.sin(np.linspace(0, 20, 1_000_000))
    values[123_457] = 99.0
    values[765_432] = -99.0
    keep = downsample_indices(values, 2000)
    assert len(keep) <= 2000 and 123_457 in keep and 765_432 in keep and keep[0] == 0 and keep[-1] == 999_999


def test_racing_ingesters_store_each_batch_exactly_once(open_store):
    """Four processes' worth of stores (each its own connection) ingest the same spool at once."""
    import threading

    stores = [open_store() for _ in range(4)]
    new_run(stores[0])
    batches = [[SpoolEvent("scalar", "loss", float(i * 10 + j), i * 10 + j, 0, float(i)) for j in range(10)]
               for i in range(30)]
    wins = []

    def ingester(s):
        for i, batch in enumerate(batches):
            if s.ingest("r1", batch, "rank-0.1.jsonl", i * 100, (i + 1) * 100):
                wins.append(i)
            else:  # lost the race for this batch: it is stored already
                assert s.spool_offsets("r1")["rank-0.1.jsonl"] >= (i + 1) * 100

    threads = [threading.Thread(target=ingester, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == list(range(30))
    (series,) = [stores[0].metric_series("r1", "loss")]
    assert series.values.tolist() == [float(i) for i in range(300)]
    (summary,) = stores[0].metric_summaries(["r1"])
    assert (summary.count, summary.min, summary.max, summary.last) == (300, 0.0, 299.0, 299.0)


def test_concurrent_submits_number_runs_without_gaps_or_repeats(open_store):
    import threading

    stores = [open_store() for _ in range(4)]
    threads = [threading.Thread(target=lambda s=s, k=k: [new_run(s, f"r{k}_{i}") for i in range(10)])
               for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.number for r in stores[0].list_runs("exp")) == list(range(1, 41))


def _run_with(store, run_id, args, metrics, tags=None, status=RunStatus.COMPLETED, created=None):
    import json

    store.create_run(RunRecord(run_id=run_id, experiment="search", status=RunStatus.QUEUED, target="local",
                               created_time=created or time.time(), spec_json=json.dumps({"arguments": args}),
                               owner="alice" if run_id.endswith("a") else "bob"))
    events = [SpoolEvent("scalar", k, v, 0, 0, 1.0) for k, v in metrics.items()]
    events += [SpoolEvent("tag", k, v) for k, v in (tags or {}).items()]
    store.ingest(run_id, events, "rank-0.1.jsonl", 0, 1)
    store.set_status(run_id, status, time.time())


def test_runs_are_searched_by_metrics_params_tags_and_attributes_in_sql(store):
    from runyard.store.base import RunOrder, RunQuery
    from runyard.store.run_filter import parse

    _run_with(store, "run1a", ["--lr", "0.01", "--epochs", "3"], {"val_acc": 0.95, "loss": 0.1}, {"team": "vision"},
              created=1.0)
    _run_with(store, "run2b", ["--lr", "0.1", "--epochs", "3"], {"val_acc": 0.80, "loss": 0.3}, {"team": "nlp"},
              created=2.0)
    _run_with(store, "run3a", ["--lr", "0.01"], {"val_acc": 0.91}, status=RunStatus.FAILED, created=3.0)
    _run_with(store, "run4b", ["--lr", "0.001"], {}, created=4.0)

    def ids(expression, **kw):
        total, runs = store.query_runs(RunQuery(where=parse(expression) if expression else None, **kw))
        assert total == len(runs) or kw.get("limit")
        return [r.run_id for r in runs]

    assert ids("metrics.val_acc > 0.9 and params.lr = '0.01'") == ["run3a", "run1a"]
    assert ids("metrics.val_acc >= 0.95") == ["run1a"]
    assert ids("params.lr != '0.01'") == ["run4b", "run2b"]  # only runs that have the param, as MLflow
    assert ids("params.lr IN ('0.1', '0.001')") == ["run4b", "run2b"]
    assert ids("tags.team LIKE 'vis%'") == ["run1a"]
    assert ids("tags.team LIKE 'VIS%'") == []  # LIKE is case-sensitive on both engines
    assert ids("tags.team ILIKE 'VIS%'") == ["run1a"]
    assert ids("attributes.status = 'Failed'") == ["run3a"]
    assert ids("owner = 'alice' and metrics.`val_acc` < 0.93") == ["run3a"]
    assert ids("metrics.missing > 0") == []
    # ordering by a metric in SQL: runs without it last, whatever the direction
    order = RunQuery(order=RunOrder.METRIC, metric="val_acc")
    assert [r.run_id for r in store.query_runs(order)[1]] == ["run1a", "run3a", "run2b", "run4b"]
    ascending = RunQuery(order=RunOrder.METRIC, metric="val_acc", ascending=True)
    assert [r.run_id for r in store.query_runs(ascending)[1]] == ["run2b", "run3a", "run1a", "run4b"]
    total, page = store.query_runs(RunQuery(order=RunOrder.METRIC, metric="val_acc", limit=2, offset=1))
    assert total == 4 and [r.run_id for r in page] == ["run3a", "run2b"]
    assert ids(None, text="RUN2") == ["run2b"]  # the search box: a piece of the id or experiment
    assert store.get_run("run1a").owner == "alice"


@pytest.mark.parametrize("text, fragment", [
    ("metrics.acc > 'high'", "not a number"),
    ("params.lr > '0.1'", "text take"),
    ("params.lr = 0.1", "quoted"),
    ("metrics.acc > 0.9 or params.lr = '1'", "only AND"),
    ("color = 'red'", "use metrics.<key>"),
    ("metrics.acc >", "ends in the middle"),
    ("attributes.nope = 'x'", "attributes are"),
])
def test_a_bad_filter_names_the_filter_what_is_wrong_and_the_fix(text, fragment):
    from runyard.store.run_filter import parse

    with pytest.raises(InvalidValueError, match="filter") as info:
        parse(text)
    assert fragment in str(info.value) and "Fix" in str(info.value)


def test_named_tokens_are_stored_hashed_and_revoked(store):
    from runyard.store.base import TokenKind, TokenRecord

    store.add_token(TokenRecord("alice", "d1" * 32, TokenKind.WRITE, 1.0))
    store.add_token(TokenRecord("ci", "d2" * 32, TokenKind.READ_ONLY, 2.0))
    with pytest.raises(InvalidValueError, match="revoke it first"):
        store.add_token(TokenRecord("alice", "d3" * 32, TokenKind.WRITE, 3.0))
    assert store.find_token("d2" * 32).kind is TokenKind.READ_ONLY
    assert store.revoke_token("alice", 5.0) and not store.revoke_token("alice", 6.0)
    assert store.find_token("d1" * 32).revoked == 5.0
    assert [t.name for t in store.list_tokens()] == ["alice", "ci"]


def test_a_whole_run_copies_between_engines(open_store, postgres_uri, tmp_path):
    from runyard.store.postgres import PostgresStore

    source = open_store()
    _run_with(source, "run1a", ["--lr", "0.01"], {"val_acc": 0.95}, {"team": "vision"})
    source.ingest("run1a", [SpoolEvent("list", "fib", [1, 1, 2], None, 1, 2.0)], "rank-1.2.jsonl", 0, 50)
    target = SqliteStore(tmp_path / "copy.db") if isinstance(source, PostgresStore) else PostgresStore(postgres_uri)
    bundle = source.run_bundle("run1a")
    assert target.put_bundle(bundle) and not target.put_bundle(bundle)  # a second copy is refused
    copied = target.run_bundle("run1a")
    assert copied.record == bundle.record and copied.tags == bundle.tags and copied.offsets == bundle.offsets
    assert copied.chunks == bundle.chunks and copied.objects == bundle.objects and copied.rollups == bundle.rollups
    assert sorted(copied.summaries) == sorted(bundle.summaries)
    assert [e.status for e in copied.status_events] == [e.status for e in bundle.status_events]
    assert target.metric_values("run1a") == source.metric_values("run1a")
    target.close()
