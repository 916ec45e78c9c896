"""The environment cache: `<workspace>/environments/<digest>/`, one folder per environment spec.

A folder is reused only when its ready marker exists (written last), so a half-built environment is
never used; an exclusive lock per digest makes two runs asking at once build it once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

READY = ".runyard-ready.json"


@dataclass(frozen=True)
class CachedEnvironment:
    digest: str
    path: Path
    packages: dict[str, str]   # what the layer itself installed, name -> version
    resolved: dict[str, str]   # everything the run can import that was asked for (layer + base), name -> version
    created: float
    last_used: float
    size_bytes: int

    @property
    def interpreter(self) -> Path:
        return self.path / "bin" / "python"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class EnvironmentCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        return self.root / digest

    @contextmanager
    def lock(self, digest: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{digest}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def get(self, digest: str) -> CachedEnvironment | None:
        marker = self.path_for(digest) / READY
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError):
            return None
        return CachedEnvironment(digest, self.path_for(digest), meta["packages"], meta["resolved"], meta["created"],
                                 meta.get("last_used", meta["created"]), meta.get("size_bytes", 0))

    def touch(self, env: CachedEnvironment) -> None:
        marker = env.path / READY
        meta = json.loads(marker.read_text())
        meta["last_used"] = time.time()
        self._write(marker, meta)

    def mark_ready(self, digest: str, packages: dict[str, str], resolved: dict[str, str],
                   spec: dict[str, object]) -> CachedEnvironment:
        path = self.path_for(digest)
        now = time.time()
        self._write(path / READY, {"packages": packages, "resolved": resolved, "created": now, "last_used": now,
                                   "size_bytes": _size(path), "spec": spec})
        env = self.get(digest)
        assert env is not None
        return env

    def discard(self, digest: str) -> None:
        """Remove a folder that is not ready (a failed or interrupted build)."""
        shutil.rmtree(self.path_for(digest), ignore_errors=True)

    def all(self) -> list[CachedEnvironment]:
        if not self.root.is_dir():
            return []
        found = [self.get(p.name) for p in self.root.iterdir() if p.is_dir()]
        return sorted((e for e in found if e is not None), key=lambda e: e.last_used, reverse=True)

    def prune(self, older_than_seconds: float) -> list[CachedEnvironment]:
        cutoff = time.time() - older_than_seconds
        removed = []
        for env in self.all():
            if env.last_used < cutoff:
                with self.lock(env.digest):
                    shutil.rmtree(env.path, ignore_errors=True)
                removed.append(env)
        return removed

    @staticmethod
    def _write(path: Path, data: dict[str, object]) -> None:
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
