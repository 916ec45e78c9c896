"""What a run needs to be reproduced: its data's content digests, its environment's exact lock, its machine.

- Data: a digest of each input's content (a file, or a folder: the sorted relative paths with each file's
  sha256), computed once per file and cached by path, size and mtime in the workspace's `digests.db`, so
  a 10 GB dataset is read once, not on every run.
- Environment: every distribution the run's interpreter imports from, with its version and the sha256 of
  its RECORD (which lists every installed file's hash: the exact wheel that was installed), plus the
  Python and torch versions; cached per interpreter and its site-packages' mtime.
- Machine: OS, CPU model and count, memory, and each GPU's model, driver and the CUDA version.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVENANCE_PROPERTY = "runyard.provenance"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ContentDigest:
    digest: str   # sha256 hex of the content (a folder: of its listing of relative paths and file digests)
    files: int
    bytes: int


class DigestCache:
    """sha256 of files by (path, size, mtime): what was hashed once is not read again while unchanged."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                         "mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)")
        self._lock = threading.Lock()
        self.hashed_bytes = 0  # what this cache had to read (0 on a warm run)

    def file_digest(self, path: Path) -> tuple[str, int]:
        stat = path.stat()
        key = str(path.resolve())
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (key,)).fetchone()
        if row and row[0] == stat.st_size and row[1] == stat.st_mtime_ns:
            return str(row[2]), stat.st_size
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        self.hashed_bytes += stat.st_size
        with self._lock:
            self._db.execute("INSERT INTO files(path, size, mtime_ns, sha256) VALUES (?,?,?,?) ON CONFLICT(path) "
                             "DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, sha256=excluded.sha256",
                             (key, stat.st_size, stat.st_mtime_ns, digest.hexdigest()))
        return digest.hexdigest(), stat.st_size

    def close(self) -> None:
        self._db.close()


def content_digest(path: Path, cache: DigestCache) -> ContentDigest:
    """The digest of a file's bytes, or of a folder's files (symlinks followed, names sorted)."""
    if path.is_file():
        digest, size = cache.file_digest(path)
        return ContentDigest(digest, 1, size)
    listing = hashlib.sha256()
    files = total = 0
    for root, dirs, names in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(names):
            file = Path(root) / name
            if not file.is_file():
                continue
            digest, size = cache.file_digest(file)
            listing.update(f"{file.relative_to(path).as_posix()}\0{digest}\n".encode())
            files += 1
            total += size
    return ContentDigest(listing.hexdigest(), files, total)


# One entry per distribution name: the first on the path, the one Python imports (importlib lists them in
# sys.path order). A distribution not installed from a wheel (an editable install, a source tree's .egg-info) has no
# RECORD of its files, so it is marked NOT_FROM_A_WHEEL instead of a hash, whichever of its forms is found first.
NOT_FROM_A_WHEEL = "editable"
_LOCK_SCRIPT = """
import hashlib, json, re, sys, importlib.metadata as md
out, seen = [], set()
for d in md.distributions():
    name = d.metadata["Name"]
    key = re.sub(r"[-_.]+", "-", name or "").lower()
    if not key or key in seen:
        continue
    seen.add(key)
    direct = json.loads(d.read_text("direct_url.json") or "{}")
    record = d.read_text("RECORD")
    editable = record is None or bool(direct.get("dir_info", {}).get("editable"))
    out.append([name, d.version, "%s" if editable else hashlib.sha256(record.encode()).hexdigest()])
torch = next((v for n, v, _ in out if n and n.lower() == "torch"), None)
print(json.dumps({"python": sys.version.split()[0], "torch": torch,
                  "packages": sorted(out, key=lambda p: (p[0] or "").lower())}))
""" % NOT_FROM_A_WHEEL


def environment_lock(interpreter: str, cache_dir: Path) -> dict[str, Any]:
    """{"python", "torch", "packages": [[name, version, sha256 of RECORD], ...]} of an interpreter."""
    if os.path.realpath(interpreter) == os.path.realpath(sys.executable):  # no interpreter to start for the base
        import sysconfig

        site = sysconfig.get_paths()["purelib"]
    else:
        site = subprocess.run([interpreter, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    try:
        # the path decides which of two installs of a name is imported: part of what the lock depends on
        stamp = f"{interpreter}\0{os.stat(site).st_mtime_ns}\0{os.environ.get('PYTHONPATH', '')}"
    except OSError:
        stamp = interpreter
    cached = cache_dir / (hashlib.sha256(stamp.encode()).hexdigest()[:24] + ".json")
    if cached.exists():
        return dict(json.loads(cached.read_text()))
    lock = json.loads(subprocess.run([interpreter, "-c", _LOCK_SCRIPT], capture_output=True, text=True, timeout=120,
                                     check=True).stdout)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(lock))
    os.replace(tmp, cached)
    return dict(lock)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> tuple[list[dict[str, str]], str | None]:
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=True)
        header = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return [], None
    gpus = [dict(zip(("model", "driver", "memory"), (p.strip() for p in line.split(",")), strict=False))
            for line in listing.stdout.splitlines() if line.strip()]
    cuda = header.split("CUDA Version:", 1)[1].split()[0] if "CUDA Version:" in header else None
    return gpus, cuda


def machine() -> dict[str, Any]:
    import psutil

    gpus, cuda = _gpus()
    return {"os": platform.platform(), "cpu": _cpu_model(), "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "gpus": gpus, "cuda": cuda}

