"""Where a workspace keeps its records, as a URI: `sqlite:///path/runyard.db` (the embedded default) or
`postgresql://user@host:port/db` (a team's server). Chosen by `runyard server --store`, the
RUNYARD_STORE_URI environment variable, or the `store` entry of the workspace's config."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from runyard.errors import InvalidValueError
from runyard.store.base import Store

STORE_ENV = "RUNYARD_STORE_URI"


class StoreEngine(str, Enum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class StoreLocation:
    engine: StoreEngine
    uri: str
    path: Path | None = None  # the file, for SQLite

    def open(self, max_connections: int = 4) -> Store:
        if self.engine is StoreEngine.SQLITE:
            from runyard.store.sqlite import SqliteStore

            assert self.path is not None
            return SqliteStore(self.path)
        from runyard.store.postgres import PostgresStore

        return PostgresStore(self.uri, max_connections=max_connections)

    @property
    def shown(self) -> str:
        if self.engine is StoreEngine.POSTGRESQL:
            from runyard.store.postgres import shown

            return shown(self.uri)
        return self.uri


def sqlite_location(path: Path) -> StoreLocation:
    return StoreLocation(StoreEngine.SQLITE, f"sqlite:///{path}", path)


def parse_store_uri(text: str, field: str = "store") -> StoreLocation:
    """A store URI, or InvalidValueError naming `field`, the value and the forms that work."""
    fix = "use sqlite:///path/to/runyard.db or postgresql://user@host:5432/dbname"
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "sqlite":
        if not text.lower().startswith("sqlite:///") or len(text) <= len("sqlite:///"):
            raise InvalidValueError(field, text, "is not sqlite:/// followed by a file path", fix)
        # as SQLAlchemy and MLflow read it: sqlite:///rel/path.db, sqlite:////abs/path.db
        return sqlite_location(Path(text[len("sqlite:///"):]).absolute())
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parts = urlsplit(text)
        if not parts.path.strip("/"):
            raise InvalidValueError(field, text, "names no database", fix)
        uri = "postgresql:" + text.split(":", 1)[1]
        return StoreLocation(StoreEngine.POSTGRESQL, uri)
    raise InvalidValueError(field, text, "is not a store URI runyard knows", fix)
