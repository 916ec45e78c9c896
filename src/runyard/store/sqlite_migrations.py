"""Schema upgrades of the workspace database: ordered migrations that carry every row forward.

`PRAGMA user_version` is the schema a database is in. Opening a database:
- new (no tables): the current schema is created;
- older: a backup copy is taken beside it (`runyard.db.schema-vN.bak`), then each migration from its
  version to the current one runs in its own transaction, so a crash leaves it at a whole version;
- newer than this code: refused, naming both versions, and nothing is written.
Two processes opening an old database at once are safe: each migration re-reads the version inside
its write transaction and skips what another process already did.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from runyard.errors import StoreError
from runyard.status import RunStatus
from runyard.store.base import RunRecord, SpoolEvent
from runyard.store.box_ledger import LEDGER_SCHEMA
from runyard.store.system_metrics import SYSTEM_SCHEMA
from runyard.store.metric_rows import pack
from runyard.store.sql import Dialect, Tx, run_params, write_packed

SCHEMA_VERSION = 6

METRICS_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_chunks (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL,
    n INTEGER NOT NULL, first_time REAL NOT NULL, all_ints INTEGER NOT NULL,
    steps BLOB NOT NULL, times BLOB NOT NULL, vals BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS metric_chunks_by_key ON metric_chunks(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_objects (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, rank INTEGER NOT NULL,
    step INTEGER, time REAL NOT NULL, data TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS metric_objects_by_key ON metric_objects(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_summary (
    run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,
    last_step INTEGER, last_time REAL, last_value REAL, min_value REAL, max_value REAL,
    PRIMARY KEY (run_id, key, rank));
"""
# schema 4: who submitted a run, its parameters as rows (searched in SQL), named tokens, runs ordered by a metric
SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS params (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (run_id, key));
CREATE INDEX IF NOT EXISTS params_by_key ON params(key, value);
CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, value);
CREATE INDEX IF NOT EXISTS metric_summary_by_key ON metric_summary(key, rank, last_value);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created REAL NOT NULL, revoked REAL);
"""
# schema 6: a rollup of each metric chunk, in its own table (a column after the chunk's blobs would be read by
# walking their overflow pages)
ROLLUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_rollups (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, n INTEGER NOT NULL,
    rollup BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS metric_rollups_by_key ON metric_rollups(run_id, key, rank, seq);
"""
_SQLITE = Dialect(placeholder="?", for_update="", event_order="rowid")

CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, experiment TEXT NOT NULL REFERENCES experiments(name),
    number INTEGER NOT NULL, status TEXT NOT NULL, target TEXT NOT NULL,
    created REAL NOT NULL, start_time REAL, end_time REAL,
    snapshot_digest TEXT NOT NULL DEFAULT '', spec_json TEXT NOT NULL DEFAULT '{}',
    error TEXT, properties TEXT NOT NULL DEFAULT '{}', display_name TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '', status_detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, created);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created);
CREATE TABLE IF NOT EXISTS status_events (
    run_id TEXT NOT NULL, status TEXT NOT NULL, time REAL NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS status_events_by_run ON status_events(run_id, time);
CREATE TABLE IF NOT EXISTS tags (
    run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (run_id, key));
CREATE TABLE IF NOT EXISTS spool_offsets (
    run_id TEXT NOT NULL, source TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (run_id, source));
"""
CURRENT_SCHEMA = CORE_SCHEMA + METRICS_SCHEMA + ROLLUP_SCHEMA + SEARCH_SCHEMA + LEDGER_SCHEMA + SYSTEM_SCHEMA


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """Schema 1 kept one row per metric point (`metrics`); schema 2 packs numeric points in chunks with
    a per-key summary. Every point moves across in its logging order, then the old table goes."""
    execute_script(db, METRICS_SCHEMA + ROLLUP_SCHEMA)  # write_packed writes both
    rows = db.execute("SELECT run_id, key, kind, step, rank, time, value, data, description FROM metrics"
                      " ORDER BY run_id, rowid").fetchall()
    by_run: dict[str, list[SpoolEvent]] = {}
    for run_id, key, kind, step, rank, time, value, data, description in rows:
        decoded = value if value is not None else json.loads(data) if data is not None else None
        by_run.setdefault(run_id, []).append(SpoolEvent(kind, key, decoded, step, rank, time, description or ""))
    for run_id, events in by_run.items():
        write_packed(Tx(db, _SQLITE), pack(run_id, events))
    db.execute("DROP TABLE metrics")


def _v2_to_v3(db: sqlite3.Connection) -> None:
    """Schema 3 pages the runs table in SQL by creation time."""
    db.execute("CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created)")


def _v3_to_v4(db: sqlite3.Connection) -> None:
    """Schema 4 adds runs.owner, the params table (filled from every run's arguments and hyperparameters),
    named tokens and the indexes run searches use."""
    db.execute("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    execute_script(db, SEARCH_SCHEMA)
    for run_id, spec_json, properties in db.execute("SELECT run_id, spec_json, properties FROM runs").fetchall():
        record = RunRecord(run_id, "", RunStatus.QUEUED, "", 0.0, spec_json=spec_json,
                           properties=json.loads(properties))
        db.executemany("INSERT INTO params(run_id, key, value) VALUES (?,?,?)",
                       [(run_id, k, v) for k, v in run_params(record).items()])


def _v4_to_v5(db: sqlite3.Connection) -> None:
    """Schema 5 adds runs.status_detail (what a run waits for), the box scheduler's ledger and system metrics."""
    db.execute("ALTER TABLE runs ADD COLUMN status_detail TEXT NOT NULL DEFAULT ''")
    execute_script(db, LEDGER_SCHEMA + SYSTEM_SCHEMA)


def _v5_to_v6(db: sqlite3.Connection) -> None:
    """Schema 6 keeps a rollup of each metric chunk (metric_rollup.py). Series written before have none and are
    charted from their points, as before (chunks moved by the schema 1 -> 2 migration already have theirs)."""
    execute_script(db, ROLLUP_SCHEMA)


# MIGRATIONS[v] takes a database from schema v to v + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4,
                                                                4: _v4_to_v5, 5: _v5_to_v6}


def execute_script(db: sqlite3.Connection, script: str) -> None:
    """Each statement of `script`, inside the caller's transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0


def backup_path(path: Path, version: int) -> Path:
    return path.with_name(f"{path.name}.schema-v{version}.bak")


def upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Bring the open database `db` (the file `path`) to SCHEMA_VERSION, or refuse."""
    version = _version(db)
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: the workspace database is in schema version {version}, newer than this "
                         f"runyard understands (version {SCHEMA_VERSION}); nothing was changed. "
                         "Fix: upgrade runyard (pip install -U runyard) to open this workspace")
    if version == SCHEMA_VERSION:
        return
    if version == 0:
        db.execute("BEGIN IMMEDIATE")
        try:
            if _version(db) == 0 and not _has_tables(db):
                execute_script(db, CURRENT_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if _version(db) == 0:
            raise StoreError(f"{path}: has tables but no runyard schema version; it is not a runyard workspace "
                             "database. Fix: move it aside, or open the workspace it belongs to")
        return
    backup = backup_path(path, version)
    if not backup.exists():
        target = sqlite3.connect(str(backup))
        with target:
            db.backup(target)  # a consistent copy, even while other processes write
        target.close()
    while (version := _version(db)) < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StoreError(f"{path}: no migration from schema version {version}. "
                             f"Fix: restore the backup {backup} and open it with the runyard that wrote it")
        db.execute("BEGIN IMMEDIATE")
        try:
            if _version(db) == version:  # another process may have done this step meanwhile
                step(db)
                db.execute(f"PRAGMA user_version={version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
