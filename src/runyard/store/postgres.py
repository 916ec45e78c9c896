"""The team store: PostgreSQL through psycopg 3 and a connection pool, the same queries as SQLite (sql.py).

Guarantees match the embedded store's: the spool offset row is locked (SELECT ... FOR UPDATE) in the
transaction that stores a batch, so a batch is stored exactly once whichever process ingests it; run
numbers are taken under the experiment row's lock; a final status is never overwritten.

Schema versions live in `runyard_schema`; opening a database takes an advisory lock, then runs each
missing migration in its own transaction (DDL is transactional in PostgreSQL), so two servers starting
at once upgrade it once. A database newer than this code is refused untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from runyard.errors import StoreError
from runyard.install_hint import install_extra
from runyard.store.sql import Dialect, SqlStore, Tx

POSTGRES = Dialect(placeholder="%s", for_update=" FOR UPDATE", event_order="seq",
                   host_lock="SELECT pg_advisory_xact_lock(hashtext(%s))")
SCHEMA_VERSION = 3
_MIGRATION_LOCK = 0x72756E79  # "runy": one advisory lock id for schema changes

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS experiments (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, experiment TEXT NOT NULL REFERENCES experiments(name),
    number INTEGER NOT NULL, status TEXT NOT NULL, target TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, start_time DOUBLE PRECISION, end_time DOUBLE PRECISION,
    snapshot_digest TEXT NOT NULL DEFAULT '', spec_json TEXT NOT NULL DEFAULT '{}',
    error TEXT, properties TEXT NOT NULL DEFAULT '{}', display_name TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, created);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created);
CREATE TABLE IF NOT EXISTS status_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL, status TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS status_events_by_run ON status_events(run_id, time);
CREATE TABLE IF NOT EXISTS tags (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (run_id, key));
CREATE INDEX IF NOT EXISTS tags_by_key ON tags(key, value);
CREATE TABLE IF NOT EXISTS params (run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (run_id, key));
CREATE INDEX IF NOT EXISTS params_by_key ON params(key, value);
CREATE TABLE IF NOT EXISTS spool_offsets (
    run_id TEXT NOT NULL, source TEXT NOT NULL, "offset" BIGINT NOT NULL, PRIMARY KEY (run_id, source));
CREATE TABLE IF NOT EXISTS metric_chunks (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL,
    rank INTEGER NOT NULL, n INTEGER NOT NULL, first_time DOUBLE PRECISION NOT NULL, all_ints BOOLEAN NOT NULL,
    steps BYTEA NOT NULL, times BYTEA NOT NULL, vals BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS metric_chunks_by_key ON metric_chunks(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_objects (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL, key TEXT NOT NULL,
    kind TEXT NOT NULL, rank INTEGER NOT NULL, step BIGINT, time DOUBLE PRECISION NOT NULL, data TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS metric_objects_by_key ON metric_objects(run_id, key, rank, seq);
CREATE TABLE IF NOT EXISTS metric_summary (
    run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, kind TEXT NOT NULL, n BIGINT NOT NULL,
    last_step BIGINT, last_time DOUBLE PRECISION, last_value DOUBLE PRECISION, min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION, PRIMARY KEY (run_id, key, rank));
CREATE INDEX IF NOT EXISTS metric_summary_by_key ON metric_summary(key, rank, last_value);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION);
"""



def _create_v1(cur: Any) -> None:
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            cur.execute(statement)


def _v1_to_v2(cur: Any) -> None:
    """runs.status_detail (what a run waits for), the box scheduler's ledger and system metrics."""
    from runyard.store.box_ledger import LEDGER_SCHEMA
    from runyard.store.system_metrics import SYSTEM_SCHEMA

    cur.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS status_detail TEXT NOT NULL DEFAULT ''")
    for statement in (LEDGER_SCHEMA + SYSTEM_SCHEMA).split(";"):
        if statement.strip():
            cur.execute(statement)


def _v2_to_v3(cur: Any) -> None:
    """A rollup of each metric chunk (metric_rollup.py); series written before have none."""
    cur.execute("CREATE TABLE IF NOT EXISTS metric_rollups (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " run_id TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, n INTEGER NOT NULL,"
                " rollup BYTEA NOT NULL)")
    cur.execute("CREATE INDEX IF NOT EXISTS metric_rollups_by_key ON metric_rollups(run_id, key, rank, seq)")


# MIGRATIONS[v] takes a database from schema v to v + 1 (0 is an empty database)
MIGRATIONS: dict[int, Callable[[Any], None]] = {0: _create_v1, 1: _v1_to_v2, 2: _v2_to_v3}


def shown(uri: str) -> str:
    """A database URI without its password, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


class PostgresStore(SqlStore):
    dialect = POSTGRES

    def __init__(self, uri: str, max_connections: int = 4) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ModuleNotFoundError as e:
            raise StoreError(f"store {shown(uri)!r} needs the PostgreSQL driver ({e.name} is not installed). "
                             "Fix: " + install_extra("postgres")) from None
        self.uri = uri
        self.where_name = f"the store {shown(uri)}"
        self._errors = psycopg.Error
        try:
            with psycopg.connect(uri, connect_timeout=10, autocommit=True) as conn:
                upgrade(conn, shown(uri))
        except psycopg.OperationalError as e:
            raise StoreError(f"cannot open the store {shown(uri)}: {str(e).strip()}. Fix: check that PostgreSQL "
                             "runs there, the database exists (createdb) and the user may connect (a password "
                             "belongs in ~/.pgpass or PGPASSWORD, not the URI)") from None
        self._pool = ConnectionPool(uri, min_size=1, max_size=max_connections, open=True,
                                    kwargs={"autocommit": True}, name="runyard-store")

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        with self._named_errors(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield Tx(cur, POSTGRES)

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        """Reads in one transaction (one snapshot), rows in PostgreSQL's binary format: packed metric chunks
        arrive as raw bytes rather than hex text (a 1M-point series is 24 MB either way, parsed 2x faster)."""
        with self._named_errors(), self._pool.connection() as conn, conn.transaction(), \
                conn.cursor(binary=True) as cur:
            yield Tx(cur, POSTGRES)

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        try:
            yield
        except self._errors as e:
            if type(e).__module__.startswith("psycopg") and getattr(e, "sqlstate", None) in (None, "08006", "08001",
                                                                                             "57P01"):
                raise StoreError(f"the store {shown(self.uri)} is unreachable ({str(e).strip()}). "
                                 "Fix: check that PostgreSQL is up; nothing of this request was written") from None
            raise


def upgrade(conn: Any, name: str) -> None:
    """Bring the database to SCHEMA_VERSION under an advisory lock, one transaction per migration."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS runyard_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM runyard_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO runyard_schema(version) VALUES (0)")
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            (version,) = conn.execute("SELECT version FROM runyard_schema").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreError(f"{name}: the database is in runyard schema version {version}, newer than this "
                                 f"runyard understands (version {SCHEMA_VERSION}); nothing was changed. "
                                 "Fix: upgrade runyard (pip install -U runyard) on this machine")
            if version == SCHEMA_VERSION:
                return
            with conn.cursor() as cur:
                MIGRATIONS[version](cur)
                cur.execute("UPDATE runyard_schema SET version = %s", (version + 1,))
