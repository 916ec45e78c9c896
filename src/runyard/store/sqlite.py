"""The embedded store: one SQLite file in WAL mode, shared by every process of the workspace."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runyard.errors import StoreError
from runyard.store.sql import Dialect, SqlStore, Tx
from runyard.store.sqlite_migrations import SCHEMA_VERSION, upgrade  # noqa: F401 - SCHEMA_VERSION read from here too

SQLITE = Dialect(placeholder="?", for_update="", event_order="rowid")


class SqliteStore(SqlStore):
    """Thread-safe (one connection, one lock); process-safe through SQLite's own locking."""

    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where_name = f"workspace {self.path.parent}"
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA case_sensitive_like=ON")  # LIKE in filters means what it does on PostgreSQL
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
    def _tx(self) -> Iterator[Tx]:
        """A write transaction taken up front (BEGIN IMMEDIATE), so readers never upgrade and deadlock."""
        with self._lock, self._damage_named():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db, SQLITE)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        """Reads outside a transaction see the last commit (WAL); a group of reads in one is consistent."""
        with self._lock, self._damage_named():
            self._db.execute("BEGIN")
            try:
                yield Tx(self._db, SQLITE)
            finally:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A damaged page found while reading or writing: say which file and how to recover it."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if _is_damage(e):
                raise damaged(self.path, e) from e
            raise


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return not isinstance(error, sqlite3.OperationalError) or "malformed" in text or "not a database" in text \
        or "corrupt" in text


def damaged(path: Path, error: Exception) -> StoreError:
    return StoreError(f"{path}: the workspace database is damaged ({error}); nothing was written. Fix: keep a "
                      f"copy, then recover it: sqlite3 '{path}' '.recover' | sqlite3 recovered.db, and put "
                      "recovered.db in its place")
