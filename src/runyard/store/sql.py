"""The store's queries, written once for every SQL engine runyard keeps its records in.

SQLite (sqlite.py) and PostgreSQL (postgres.py) differ in how they connect, lock and migrate; the
queries are the same portable SQL (ON CONFLICT upserts, CASE for two-value min/max, "offset" quoted).
A subclass gives `_tx()` (a write transaction) and `_read()` (a read-only one) yielding a `Tx`, and
a `Dialect` for the few words that differ.
"""

from __future__ import annotations

import abc
import json
import time as clock
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from runyard.errors import InvalidValueError, RunNotFoundError
from runyard.identity import current_owner
from runyard.spec import parameters_of
from runyard.status import RunStatus
from runyard.store import run_filter
from runyard.store.box_ledger import BoxLedger
from runyard.store.system_metrics import SYSTEM_KIND, SystemPoint, read_system, write_system
from runyard.store.base import (
    KeyValues,
    MetricSummary,
    RunBundle,
    RunOrder,
    RunQuery,
    RunRecord,
    Series,
    SpoolEvent,
    StatusEvent,
    Store,
    TokenKind,
    TokenRecord,
)
from runyard.store.metric_rollup import SeriesRollup, rollup_from_rows
from runyard.store.metric_rows import (
    SUMMARY_COLUMNS,
    PackedMetrics,
    pack,
    series_from_rows,
    summaries_from_rows,
    values_from_rows,
)

_TERMINAL_VALUES = tuple(s.value for s in RunStatus if s.is_terminal())
RUN_COLUMNS = ("run_id, experiment, number, status, target, created, start_time, end_time, snapshot_digest,"
               " spec_json, error, properties, display_name, owner, status_detail")


@dataclass(frozen=True)
class Dialect:
    placeholder: str   # "?" or "%s"
    for_update: str    # row lock suffix of a SELECT inside a write transaction
    event_order: str   # the column that orders status events logged at the same time
    host_lock: str = ""  # a statement that serialises one host's box decisions (SQLite's write lock does)


class Tx:
    """A cursor that takes `?` placeholders whatever the engine's style."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor, self.dialect = cursor, dialect

    def _sql(self, sql: str) -> str:
        return sql if self.dialect.placeholder == "?" else sql.replace("?", self.dialect.placeholder)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._sql(sql), rows)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.execute(sql, params).fetchone()
        return None if row is None else tuple(row)


SUMMARY_UPSERT = (
    "INSERT INTO metric_summary(run_id, key, rank, kind, n, last_step, last_time, last_value, min_value,"
    " max_value) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id, key, rank) DO UPDATE SET"
    " n = metric_summary.n + excluded.n, last_step = excluded.last_step, last_time = excluded.last_time,"
    " last_value = excluded.last_value,"
    " min_value = CASE WHEN metric_summary.min_value IS NULL THEN excluded.min_value"
    "   WHEN excluded.min_value IS NULL OR metric_summary.min_value <= excluded.min_value"
    "   THEN metric_summary.min_value ELSE excluded.min_value END,"
    " max_value = CASE WHEN metric_summary.max_value IS NULL THEN excluded.max_value"
    "   WHEN excluded.max_value IS NULL OR metric_summary.max_value >= excluded.max_value"
    "   THEN metric_summary.max_value ELSE excluded.max_value END")


CHUNK_INSERT = ("INSERT INTO metric_chunks(run_id, key, rank, n, first_time, all_ints, steps, times, vals)"
                " VALUES (?,?,?,?,?,?,?,?,?)")
ROLLUP_INSERT = "INSERT INTO metric_rollups(run_id, key, rank, n, rollup) VALUES (?,?,?,?,?)"


def write_packed(tx: Tx, packed: PackedMetrics) -> None:
    """Metric rows of one batch (inside the caller's transaction)."""
    tx.executemany(CHUNK_INSERT, packed.chunks)
    tx.executemany(ROLLUP_INSERT, packed.rollups)
    tx.executemany("INSERT INTO metric_objects(run_id, key, kind, rank, step, time, data, description)"
                   " VALUES (?,?,?,?,?,?,?,?)", packed.objects)
    tx.executemany(SUMMARY_UPSERT, packed.summaries)


def run_params(record: RunRecord) -> dict[str, str]:
    """The parameters a run is searched by: its `--name value` arguments, then its sampled hyperparameters."""
    try:
        arguments = json.loads(record.spec_json or "{}").get("arguments", [])
    except (ValueError, AttributeError):
        arguments = []
    return parameters_of(arguments if isinstance(arguments, list) else [], record.properties.get("hyperparameters"))


def like_literal(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in(column: str, values: Sequence[Any] | None) -> tuple[str, list[Any]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(values))})", list(values)


class SqlStore(Store):
    dialect: Dialect
    where_name: str = "the store"  # how errors name this store (a file path, a database URI)

    @abc.abstractmethod
    def _tx(self) -> AbstractContextManager[Tx]: ...

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Tx]: ...

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read() as tx:
            return tx.rows(sql, params)

    @property
    def box(self) -> BoxLedger:
        """The box scheduler's ledger (who waits, who holds what, per host)."""
        return BoxLedger(self)

    # -- experiments --------------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> None:
        with self._tx() as tx:
            tx.execute("INSERT INTO experiments(name, created) VALUES (?,?) ON CONFLICT DO NOTHING",
                       (name, clock.time()))

    def list_experiments(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM experiments ORDER BY name")]

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, record: RunRecord) -> RunRecord:
        if not record.owner:
            record.owner = current_owner()
        with self._tx() as tx:
            self._insert_run(tx, record)
            tx.execute("INSERT INTO status_events(run_id, status, time, detail) VALUES (?,?,?,'')",
                       (record.run_id, record.status.value, record.created_time))
        return record

    def _insert_run(self, tx: Tx, record: RunRecord, number: int | None = None) -> None:
        tx.execute("INSERT INTO experiments(name, created) VALUES (?,?) ON CONFLICT DO NOTHING",
                   (record.experiment, record.created_time))
        # the experiment's row is the lock that keeps run numbers unique under concurrent submits
        tx.execute(f"SELECT name FROM experiments WHERE name=?{self.dialect.for_update}", (record.experiment,))
        if number is None:
            (number,) = tx.one("SELECT COUNT(*) + 1 FROM runs WHERE experiment=?", (record.experiment,)) or (1,)
        record.number = int(number)
        tx.execute(
            "INSERT INTO runs(run_id, experiment, number, status, target, created, start_time, end_time,"
            " snapshot_digest, spec_json, error, properties, display_name, owner, status_detail)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (record.run_id, record.experiment, record.number, record.status.value, record.target,
             record.created_time, record.start_time, record.end_time, record.snapshot_digest, record.spec_json,
             record.error, json.dumps(record.properties), record.display_name, record.owner, record.status_detail))
        tx.executemany("INSERT INTO params(run_id, key, value) VALUES (?,?,?)",
                       [(record.run_id, k, v) for k, v in run_params(record).items()])

    @staticmethod
    def _record(row: Sequence[Any]) -> RunRecord:
        return RunRecord(run_id=row[0], experiment=row[1], number=row[2], status=RunStatus(row[3]),
                         target=row[4], created_time=row[5], start_time=row[6], end_time=row[7],
                         snapshot_digest=row[8], spec_json=row[9], error=row[10],
                         properties=json.loads(row[11]), display_name=row[12], owner=row[13] or "",
                         status_detail=row[14] or "")

    def _not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"run_id={run_id!r}: no such run in {self.where_name}. "
                                "Fix: list runs with `runyard runs` and pass one of their ids")

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            raise self._not_found(run_id)
        return self._record(rows[0])

    def resolve_run_id(self, prefix: str) -> str:
        if self._query("SELECT 1 FROM runs WHERE run_id=?", (prefix,)):
            return prefix
        rows = self._query("SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 3",
                           (like_literal(prefix) + "%",))
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise self._not_found(prefix)
        raise InvalidValueError("run_id", prefix, f"matches several runs ({rows[0][0]}, {rows[1][0]}, ...)",
                                "pass more characters of the run id")

    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, offset: int = 0, ascending: bool = False) -> list[RunRecord]:
        return self.query_runs(RunQuery(experiment=experiment, status=status, limit=limit, offset=offset,
                                        ascending=ascending), count=False)[1]

    def count_runs(self, experiment: str | None = None, status: RunStatus | None = None) -> int:
        where, params = self._where(RunQuery(experiment=experiment, status=status))
        return int(self._query(f"SELECT COUNT(*) FROM runs{where}", params)[0][0])

    def _where(self, query: RunQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.experiment is not None:
            clauses.append("runs.experiment=?")
            params.append(query.experiment)
        if query.status is not None:
            clauses.append("runs.status=?")
            params.append(query.status.value)
        if query.text:
            escaped = like_literal(query.text.lower())
            clauses.append("(lower(runs.run_id) LIKE ? ESCAPE '\\' OR lower(runs.experiment) LIKE ? ESCAPE '\\')")
            params += [f"%{escaped}%"] * 2
        if query.where is not None:
            sql, filter_params = run_filter.to_sql(query.where, "?")
            clauses.append(sql)
            params += filter_params
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def query_runs(self, query: RunQuery, count: bool = True) -> tuple[int, list[RunRecord]]:
        where, params = self._where(query)
        direction = "ASC" if query.ascending else "DESC"
        join, order_params = "", []
        if query.order is RunOrder.METRIC:
            if not query.metric:
                raise InvalidValueError("sort", "metric:", "names no metric", "sort by metric:<key>")
            join = " LEFT JOIN metric_summary ms ON ms.run_id = runs.run_id AND ms.key = ? AND ms.rank = 0"
            order_params = [query.metric]
            order = f"(ms.last_value IS NULL) ASC, ms.last_value {direction}, runs.created DESC"
        elif query.order is RunOrder.DURATION:
            order = (f"(runs.start_time IS NULL) ASC, COALESCE(runs.end_time, {clock.time()!r}) - runs.start_time"
                     f" {direction}, runs.created DESC")
        else:
            order = f"runs.{query.order.value} {direction}" + (", runs.created DESC"
                                                              if query.order is not RunOrder.CREATED else "")
        sql = f"SELECT {', '.join('runs.' + c.strip() for c in RUN_COLUMNS.split(','))} FROM runs{join}{where}" \
              f" ORDER BY {order}"
        page_params: list[Any] = []
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            page_params = [query.limit, query.offset]
        with self._read() as tx:
            rows = tx.rows(sql, [*order_params, *params, *page_params])
            total = int(tx.rows(f"SELECT COUNT(*) FROM runs{where}", params)[0][0]) if count else len(rows)
        return total, [self._record(r) for r in rows]

    def set_status(self, run_id: str, status: RunStatus, time: float, error: str | None = None,
                   only_if_not_terminal: bool = True) -> bool:
        with self._tx() as tx:
            row = tx.one(f"SELECT status FROM runs WHERE run_id=?{self.dialect.for_update}", (run_id,))
            if row is None:
                raise self._not_found(run_id)
            if only_if_not_terminal and row[0] in _TERMINAL_VALUES:
                return False
            tx.execute("INSERT INTO status_events(run_id, status, time, detail) VALUES (?,?,?,?)",
                       (run_id, status.value, time, error or ""))
            # what the run waits for now (a queue's reason, a cluster's progress); a new status starts it afresh
            tx.execute("UPDATE runs SET status=?, status_detail=? WHERE run_id=?",
                       (status.value, "" if status.is_terminal() else (error or ""), run_id))
            if status is RunStatus.RUNNING:
                tx.execute("UPDATE runs SET start_time=COALESCE(start_time, ?) WHERE run_id=?", (time, run_id))
            if status.is_terminal():
                tx.execute("UPDATE runs SET end_time=?, error=COALESCE(?, error) WHERE run_id=?",
                           (time, error, run_id))
        return True

    def status_events(self, run_id: str) -> list[StatusEvent]:
        rows = self._query("SELECT status, time, detail FROM status_events WHERE run_id=?"
                           f" ORDER BY time, {self.dialect.event_order}", (run_id,))
        return [StatusEvent(RunStatus(s), t, d) for s, t, d in rows]

    def add_properties(self, run_id: str, properties: dict[str, str]) -> None:
        with self._tx() as tx:
            row = tx.one(f"SELECT properties FROM runs WHERE run_id=?{self.dialect.for_update}", (run_id,))
            if row is None:
                raise self._not_found(run_id)
            current = json.loads(row[0])
            merge_properties(current, properties)
            tx.execute("UPDATE runs SET properties=? WHERE run_id=?", (json.dumps(current), run_id))

    # -- tags ---------------------------------------------------------------------------------
    _TAG_UPSERT = ("INSERT INTO tags(run_id, key, value) VALUES (?,?,?)"
                   " ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value")

    def set_tags(self, run_id: str, tags: dict[str, str | None]) -> None:
        with self._tx() as tx:
            tx.executemany(self._TAG_UPSERT, [(run_id, k, v) for k, v in tags.items()])

    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        with self._tx() as tx:
            tx.executemany("DELETE FROM tags WHERE run_id=? AND key=?", [(run_id, k) for k in keys])

    def get_tags(self, run_id: str) -> dict[str, str | None]:
        return dict(self._query("SELECT key, value FROM tags WHERE run_id=? ORDER BY key", (run_id,)))

    # -- metrics ------------------------------------------------------------------------------
    def spool_offsets(self, run_id: str) -> dict[str, int]:
        return {s: int(o) for s, o in self._query('SELECT source, "offset" FROM spool_offsets WHERE run_id=?',
                                                  (run_id,))}

    def ingest(self, run_id: str, events: Sequence[SpoolEvent], source: str, start: int, end: int) -> bool:
        with self._tx() as tx:
            # the offset row is the lock: two ingesters of one spool serialise here, the second sees the new offset
            tx.execute('INSERT INTO spool_offsets(run_id, source, "offset") VALUES (?,?,0) ON CONFLICT DO NOTHING',
                       (run_id, source))
            row = tx.one(f'SELECT "offset" FROM spool_offsets WHERE run_id=? AND source=?{self.dialect.for_update}',
                         (run_id, source))
            if (row[0] if row else 0) != start:
                return False
            tags, props, metrics, system = {}, {}, [], []
            for e in events:
                if e.kind == "tag":
                    tags[e.key] = e.value
                elif e.kind == "property":
                    props[e.key] = e.value
                elif e.kind == SYSTEM_KIND:
                    system.append(e)
                else:
                    metrics.append(e)
            write_packed(tx, pack(run_id, metrics))
            write_system(tx, run_id, system)
            tx.executemany(self._TAG_UPSERT, [(run_id, k, v) for k, v in tags.items()])
            if props:
                current = tx.one(f"SELECT properties FROM runs WHERE run_id=?{self.dialect.for_update}", (run_id,))
                merged = json.loads(current[0]) if current else {}
                merged.update({k: v for k, v in props.items() if k not in merged})  # first write wins
                tx.execute("UPDATE runs SET properties=? WHERE run_id=?", (json.dumps(merged), run_id))
            tx.execute('UPDATE spool_offsets SET "offset"=? WHERE run_id=? AND source=?', (end, run_id, source))
        return True

    def system_metrics(self, run_id: str, key: str | None = None) -> list[SystemPoint]:
        """A run's system metrics (10-second aggregates per node), apart from what the script logged."""
        with self._read() as tx:
            return read_system(tx, run_id, key)

    def metric_values(self, run_id: str, keys: Sequence[str] | None = None,
                      rank: int | None = None) -> list[KeyValues]:
        key_sql, key_params = _in("key", keys)
        rank_sql, rank_params = ("", []) if rank is None else (" AND rank=?", [rank])
        params = [run_id, *key_params, *rank_params]
        with self._read() as tx:
            chunks = tx.rows(f"SELECT key, rank, vals, all_ints, first_time FROM metric_chunks WHERE run_id=?"
                             f"{key_sql}{rank_sql} ORDER BY key, rank, seq", params)
            objects = tx.rows(f"SELECT key, rank, kind, data, time FROM metric_objects WHERE run_id=?{key_sql}"
                              f"{rank_sql} ORDER BY seq", params)
        return values_from_rows(chunks, objects)

    def metric_series(self, run_id: str, key: str, rank: int = 0) -> Series:
        return series_from_rows(self._query("SELECT steps, times, vals FROM metric_chunks WHERE run_id=? AND key=?"
                                            " AND rank=? ORDER BY seq", (run_id, key, rank)))

    def metric_rollup(self, run_id: str, key: str, rank: int = 0) -> SeriesRollup | None:
        with self._read() as tx:
            stored = tx.one("SELECT n FROM metric_summary WHERE run_id=? AND key=? AND rank=?", (run_id, key, rank))
            rows = tx.rows("SELECT n, rollup FROM metric_rollups WHERE run_id=? AND key=? AND rank=? ORDER BY seq",
                           (run_id, key, rank))
        rollup = rollup_from_rows(rows)
        # chunks written before rollups existed have none: then the points are read
        return rollup if rollup is not None and stored is not None and rollup.total == stored[0] else None

    def metric_summaries(self, run_ids: Sequence[str] | None = None, experiment: str | None = None,
                         rank: int | None = None) -> list[MetricSummary]:
        sql = f"SELECT {SUMMARY_COLUMNS} FROM metric_summary s"
        params: list[Any] = []
        if experiment is not None:
            sql += " JOIN runs r ON r.run_id = s.run_id WHERE r.experiment=?"
            params.append(experiment)
        else:
            sql += " WHERE 1=1"
        ids_sql, ids = _in("s.run_id", run_ids)
        sql += ids_sql
        params += ids
        if rank is not None:
            sql += " AND s.rank=?"
            params.append(rank)
        return summaries_from_rows(self._query(sql, params))

    # -- named tokens -------------------------------------------------------------------------
    def add_token(self, token: TokenRecord) -> None:
        with self._tx() as tx:
            if tx.one("SELECT 1 FROM tokens WHERE name=? AND revoked IS NULL", (token.name,)):
                raise InvalidValueError("name", token.name, "is the name of a token that is not revoked",
                                        "revoke it first (runyard token revoke NAME) or pick another name")
            tx.execute("DELETE FROM tokens WHERE name=?", (token.name,))
            tx.execute("INSERT INTO tokens(name, digest, kind, created, revoked) VALUES (?,?,?,?,NULL)",
                       (token.name, token.digest, token.kind.value, token.created))

    def list_tokens(self) -> list[TokenRecord]:
        return [TokenRecord(n, d, TokenKind(k), c, r)
                for n, d, k, c, r in self._query("SELECT name, digest, kind, created, revoked FROM tokens"
                                                 " ORDER BY name")]

    def revoke_token(self, name: str, time: float) -> bool:
        with self._tx() as tx:
            found = tx.one("SELECT 1 FROM tokens WHERE name=? AND revoked IS NULL", (name,))
            tx.execute("UPDATE tokens SET revoked=? WHERE name=? AND revoked IS NULL", (time, name))
        return found is not None

    def find_token(self, digest: str) -> TokenRecord | None:
        rows = self._query("SELECT name, digest, kind, created, revoked FROM tokens WHERE digest=?", (digest,))
        return TokenRecord(rows[0][0], rows[0][1], TokenKind(rows[0][2]), rows[0][3], rows[0][4]) if rows else None

    # -- whole runs, for copying between stores ---------------------------------------------
    def counts(self, run_id: str) -> dict[str, int]:
        """How many rows of each kind one run has (and its metric points), to verify a copy."""
        with self._read() as tx:
            found = {table: int(tx.rows(f"SELECT COUNT(*) FROM {table} WHERE run_id=?", (run_id,))[0][0])
                     for table in ("runs", "status_events", "tags", "params", "spool_offsets", "metric_chunks",
                                   "metric_rollups", "metric_objects", "metric_summary")}
            found["metric_points"] = int(tx.rows("SELECT COALESCE(SUM(n), 0) FROM metric_chunks WHERE run_id=?",
                                                 (run_id,))[0][0])
        return found

    def run_bundle(self, run_id: str) -> RunBundle:
        record = self.get_run(run_id)
        with self._read() as tx:
            chunks = tx.rows("SELECT run_id, key, rank, n, first_time, all_ints, steps, times, vals FROM metric_chunks"
                             " WHERE run_id=? ORDER BY seq", (run_id,))
            rollups = tx.rows("SELECT run_id, key, rank, n, rollup FROM metric_rollups WHERE run_id=? ORDER BY seq",
                              (run_id,))
            objects = tx.rows("SELECT run_id, key, kind, rank, step, time, data, description FROM metric_objects"
                              " WHERE run_id=? ORDER BY seq", (run_id,))
            summaries = tx.rows(f"SELECT {SUMMARY_COLUMNS} FROM metric_summary s WHERE s.run_id=?", (run_id,))
        return RunBundle(record, self.status_events(run_id), self.get_tags(run_id), self.spool_offsets(run_id),
                         [(*c[:5], bool(c[5]), bytes(c[6]), bytes(c[7]), bytes(c[8])) for c in chunks],
                         objects, summaries, [(*r[:4], bytes(r[4])) for r in rollups])

    def put_bundle(self, bundle: RunBundle) -> bool:
        with self._tx() as tx:
            if tx.one("SELECT 1 FROM runs WHERE run_id=?", (bundle.record.run_id,)):
                return False
            self._insert_run(tx, bundle.record, number=bundle.record.number)
            run_id = bundle.record.run_id
            tx.executemany("INSERT INTO status_events(run_id, status, time, detail) VALUES (?,?,?,?)",
                           [(run_id, e.status.value, e.time, e.detail) for e in bundle.status_events])
            tx.executemany(self._TAG_UPSERT, [(run_id, k, v) for k, v in bundle.tags.items()])
            tx.executemany('INSERT INTO spool_offsets(run_id, source, "offset") VALUES (?,?,?)',
                           [(run_id, s, o) for s, o in bundle.offsets.items()])
            tx.executemany(CHUNK_INSERT, bundle.chunks)
            tx.executemany(ROLLUP_INSERT, bundle.rollups)
            tx.executemany("INSERT INTO metric_objects(run_id, key, kind, rank, step, time, data, description)"
                           " VALUES (?,?,?,?,?,?,?,?)", bundle.objects)
            tx.executemany("INSERT INTO metric_summary(run_id, key, rank, kind, n, last_step, last_time, last_value,"
                           " min_value, max_value) VALUES (?,?,?,?,?,?,?,?,?,?)", bundle.summaries)
        return True


def merge_properties(current: dict[str, str], new: dict[str, str]) -> None:
    """Properties are write-once, as in the service: a key may be set again only to the same value."""
    for key, value in new.items():
        if key in current and current[key] != value:
            raise InvalidValueError(f"properties[{key!r}]", value,
                                    f"is already set to {current[key]!r} and properties cannot change",
                                    "use a tag (run.tag) for values that change")
        current[key] = value

