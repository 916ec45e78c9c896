"""The embedded store: one SQLite file in WAL mode, shared by every process of the workspace."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from runyard.errors import InvalidValueError, RunNotFoundError, StoreError
from runyard.status import RunStatus
from runyard.store import sqlite_metrics
from runyard.store.base import (KeyValues, MetricSummary, RunRecord, Series, SpoolEvent, StatusEvent, Store)
from runyard.store.sqlite_migrations import SCHEMA_VERSION, upgrade  # noqa: F401 - SCHEMA_VERSION read from here too

_TERMINAL_VALUES = tuple(s.value for s in RunStatus if s.is_terminal())


class SqliteStore(Store):
    """Thread-safe (one connection, one lock); process-safe through SQLite's own locking."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            upgrade(self._db, self.path)
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and not _is_damage(e):
                raise StoreError(f"cannot open the workspace database {self.path}: {e}. "
                                 "Fix: check the folder is writable and not on a network filesystem "
                                 "without locking") from e
            raise damaged(self.path, e) from e

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), so readers never upgrade and deadlock."""
        with self._lock, self._damage_named():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock, self._damage_named():
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A damaged page found while reading or writing: say which file and how to recover it."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if _is_damage(e):
                raise damaged(self.path, e) from e
            raise

    # -- experiments --------------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO experiments(name, created) VALUES (?,?)", (name, time.time()))

    def list_experiments(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM experiments ORDER BY name")]

    # -- runs ---------------------------------------------------------------------------------
    def create_run(self, record: RunRecord) -> RunRecord:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO experiments(name, created) VALUES (?,?)",
                       (record.experiment, record.created_time))
            (number,) = db.execute("SELECT COUNT(*) + 1 FROM runs WHERE experiment=?",
                                   (record.experiment,)).fetchone()
            record.number = number
            db.execute(
                "INSERT INTO runs(run_id, experiment, number, status, target, created, snapshot_digest,"
                " spec_json, properties, display_name) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (record.run_id, record.experiment, number, record.status.value, record.target,
                 record.created_time, record.snapshot_digest, record.spec_json,
                 json.dumps(record.properties), record.display_name))
            db.execute("INSERT INTO status_events(run_id, status, time) VALUES (?,?,?)",
                       (record.run_id, record.status.value, record.created_time))
        return record

    _RUN_COLUMNS = ("run_id, experiment, number, status, target, created, start_time, end_time,"
                    " snapshot_digest, spec_json, error, properties, display_name")

    @staticmethod
    def _record(row: tuple) -> RunRecord:
        return RunRecord(run_id=row[0], experiment=row[1], number=row[2], status=RunStatus(row[3]),
                         target=row[4], created_time=row[5], start_time=row[6], end_time=row[7],
                         snapshot_digest=row[8], spec_json=row[9], error=row[10],
                         properties=json.loads(row[11]), display_name=row[12])

    def get_run(self, run_id: str) -> RunRecord:
        rows = self._query(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"run_id={run_id!r}: no such run in workspace {self.path.parent}. "
                                   "Fix: list runs with `runyard runs` and pass one of their ids")
        return self._record(rows[0])

    def resolve_run_id(self, prefix: str) -> str:
        if self._query("SELECT 1 FROM runs WHERE run_id=?", (prefix,)):
            return prefix
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query("SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 3",
                           (escaped + "%",))
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            return self.get_run(prefix).run_id  # raises the not-found error
        raise InvalidValueError("run_id", prefix, f"matches several runs ({rows[0][0]}, {rows[1][0]}, ...)",
                                "pass more characters of the run id")

    def list_runs(self, experiment: str | None = None, status: RunStatus | None = None,
                  limit: int | None = None, offset: int = 0, ascending: bool = False) -> list[RunRecord]:
        where, params = self._run_filter(experiment, status)
        sql = f"SELECT {self._RUN_COLUMNS} FROM runs{where} ORDER BY created {'ASC' if ascending else 'DESC'}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [self._record(r) for r in self._query(sql, params)]

    def count_runs(self, experiment: str | None = None, status: RunStatus | None = None) -> int:
        where, params = self._run_filter(experiment, status)
        return int(self._query(f"SELECT COUNT(*) FROM runs{where}", params)[0][0])

    @staticmethod
    def _run_filter(experiment: str | None, status: RunStatus | None) -> tuple[str, list[object]]:
        clauses, params = [], []
        if experiment is not None:
            clauses.append("experiment=?")
            params.append(experiment)
        if status is not None:
            clauses.append("status=?")
            params.append(status.value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def set_status(self, run_id: str, status: RunStatus, time: float, error: str | None = None,
                   only_if_not_terminal: bool = True) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(f"run_id={run_id!r}: no such run")
            if only_if_not_terminal and row[0] in _TERMINAL_VALUES:
                return False
            db.execute("INSERT INTO status_events(run_id, status, time, detail) VALUES (?,?,?,?)",
                       (run_id, status.value, time, error or ""))
            db.execute("UPDATE runs SET status=? WHERE run_id=?", (status.value, run_id))
            if status is RunStatus.RUNNING:
                db.execute("UPDATE runs SET start_time=COALESCE(start_time, ?) WHERE run_id=?", (time, run_id))
            if status.is_terminal():
                db.execute("UPDATE runs SET end_time=?, error=COALESCE(?, error) WHERE run_id=?",
                           (time, error, run_id))
        return True

    def status_events(self, run_id: str) -> list[StatusEvent]:
        rows = self._query("SELECT status, time, detail FROM status_events WHERE run_id=? ORDER BY time, rowid",
                           (run_id,))
        return [StatusEvent(RunStatus(s), t, d) for s, t, d in rows]

    def add_properties(self, run_id: str, properties: dict[str, str]) -> None:
        with self._tx() as db:
            row = db.execute("SELECT properties FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(f"run_id={run_id!r}: no such run")
            current = json.loads(row[0])
            _merge_properties(current, properties)
            db.execute("UPDATE runs SET properties=? WHERE run_id=?", (json.dumps(current), run_id))

    # -- tags ---------------------------------------------------------------------------------
    def set_tags(self, run_id: str, tags: dict[str, str | None]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?,?,?)",
                           [(run_id, k, v) for k, v in tags.items()])

    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM tags WHERE run_id=? AND key=?", [(run_id, k) for k in keys])

    def get_tags(self, run_id: str) -> dict[str, str | None]:
        return dict(self._query("SELECT key, value FROM tags WHERE run_id=? ORDER BY key", (run_id,)))

    # -- metrics ------------------------------------------------------------------------------
    def spool_offsets(self, run_id: str) -> dict[str, int]:
        return dict(self._query("SELECT source, offset FROM spool_offsets WHERE run_id=?", (run_id,)))

    def ingest(self, run_id: str, events: Sequence[SpoolEvent], source: str, start: int, end: int) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT offset FROM spool_offsets WHERE run_id=? AND source=?",
                             (run_id, source)).fetchone()
            if (row[0] if row else 0) != start:
                return False
            tags, props, metrics = {}, {}, []
            for e in events:
                if e.kind == "tag":
                    tags[e.key] = e.value
                elif e.kind == "property":
                    props[e.key] = e.value
                else:
                    metrics.append(e)
            sqlite_metrics.write_events(db, run_id, metrics)
            if tags:
                db.executemany("INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?,?,?)",
                               [(run_id, k, v) for k, v in tags.items()])
            if props:
                (current,) = db.execute("SELECT properties FROM runs WHERE run_id=?", (run_id,)).fetchone()
                merged = json.loads(current)
                merged.update({k: v for k, v in props.items() if k not in merged})  # first write wins
                db.execute("UPDATE runs SET properties=? WHERE run_id=?", (json.dumps(merged), run_id))
            db.execute("INSERT OR REPLACE INTO spool_offsets(run_id, source, offset) VALUES (?,?,?)",
                       (run_id, source, end))
        return True

    def metric_values(self, run_id: str, keys: Sequence[str] | None = None,
                      rank: int | None = None) -> list[KeyValues]:
        with self._lock:
            return sqlite_metrics.read_values(self._db, run_id, keys, rank)

    def metric_series(self, run_id: str, key: str, rank: int = 0) -> Series:
        with self._lock:
            return sqlite_metrics.read_series(self._db, run_id, key, rank)

    def metric_summaries(self, run_ids: Sequence[str] | None = None, experiment: str | None = None,
                         rank: int | None = None) -> list[MetricSummary]:
        with self._lock:
            return sqlite_metrics.read_summaries(self._db, run_ids, experiment, rank)


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return not isinstance(error, sqlite3.OperationalError) or "malformed" in text or "not a database" in text \
        or "corrupt" in text


def damaged(path: Path, error: Exception) -> StoreError:
    return StoreError(f"{path}: the workspace database is damaged ({error}); nothing was written. Fix: keep a "
                      f"copy, then recover it: sqlite3 '{path}' '.recover' | sqlite3 recovered.db, and put "
                      "recovered.db in its place")


def _merge_properties(current: dict[str, str], new: dict[str, str]) -> None:
    """Properties are write-once, as in the service: a key may be set again only to the same value."""
    for key, value in new.items():
        if key in current and current[key] != value:
            raise InvalidValueError(f"properties[{key!r}]", value,
                                    f"is already set to {current[key]!r} and properties cannot change",
                                    "use a tag (run.tag) for values that change")
        current[key] = value
