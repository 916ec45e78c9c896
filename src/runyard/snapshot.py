"""Content-addressed snapshots of a source folder.

A snapshot is a manifest (relative path -> sha256, size, mode) whose own sha256 is the snapshot's
digest. File contents live once in the workspace's blob folder however many runs use them.
Ignore files at the source root: `.runyardignore`, else `.amlignore`, else `.gitignore`
(gitwildmatch syntax; the first one found is used alone, as the service did for .amlignore).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from runyard.errors import InvalidValueError, SnapshotTooLargeError

IGNORE_FILES = (".runyardignore", ".amlignore", ".gitignore")
ALWAYS_IGNORED = (".git/", ".runyard/", "__pycache__/", "*.pyc", ".ipynb_checkpoints/")
DEFAULT_MAX_BYTES = 300 * 1024 * 1024
DEFAULT_MAX_FILES = 2000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES

    @classmethod
    def from_env(cls, base: SnapshotLimits | None = None) -> SnapshotLimits:
        base = base or cls()
        mb = os.environ.get("RUNYARD_SNAPSHOT_MAX_MB")
        files = os.environ.get("RUNYARD_SNAPSHOT_MAX_FILES")
        return cls(max_bytes=int(float(mb) * 1024 * 1024) if mb else base.max_bytes,
                   max_files=int(files) if files else base.max_files)


@dataclass(frozen=True)
class FileEntry:
    path: str      # POSIX, relative to the source root
    digest: str
    size: int
    executable: bool


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        return json.dumps([[f.path, f.digest, f.size, f.executable] for f in self.files], separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest, refusing any entry that would land outside the folder it is laid out in
        (a manifest may come from another machine)."""
        files = []
        for p, d, s, x in json.loads(text):
            parts = Path(p).parts
            if not p or Path(p).is_absolute() or ".." in parts or "\\" in p:
                raise InvalidValueError("manifest path", p, "points outside the snapshot",
                                        "send paths relative to the source folder, without '..'")
            if not (isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d)):
                raise InvalidValueError("manifest digest", d, "is not a sha256 hex digest", "send sha256 digests")
            files.append(FileEntry(p, d, int(s), bool(x)))
        return cls(tuple(files))


def _ignore_spec(root: Path) -> Any:
    lines = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        candidate = root / name
        if candidate.is_file():
            lines += candidate.read_text(encoding="utf-8", errors="replace").splitlines()
            break
    import pathspec  # here, not at import: a rank in a container imports this module without it

    return pathspec.PathSpec.from_lines("gitwildmatch", lines)


def _walk(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    spec = _ignore_spec(root)
    found: list[tuple[str, Path, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        # prune ignored folders so a huge ignored tree costs nothing
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(prefix + d + "/"))
        for name in sorted(filenames):
            rel = prefix + name
            if spec.match_file(rel):
                continue
            full = Path(dirpath) / name
            st = full.stat()  # follows a symlink to its target, as a copy would
            if stat.S_ISREG(st.st_mode):
                found.append((rel, full, st))
    return found


def _largest_folders(entries: list[tuple[str, Path, os.stat_result]], top: int = 5) -> str:
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for rel, _, st in entries:
        parts = rel.split("/")
        folder = "/".join(parts[:2]) if len(parts) > 2 else (parts[0] if len(parts) > 1 else ".")
        sizes[folder] += st.st_size
        counts[folder] += 1
    return "; ".join(f"{f}/ {sizes[f] / 1e6:.1f} MB in {counts[f]} files" for f, _ in sizes.most_common(top))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def scan(source_directory: str | Path, limits: SnapshotLimits | None = None) -> tuple[Manifest, dict[str, Path]]:
    """Hash the files of a source folder. Writes nothing. Raises SnapshotTooLargeError over a limit."""
    root = Path(source_directory).resolve()
    limits = limits or SnapshotLimits.from_env()
    entries = _walk(root)
    total = sum(st.st_size for _, _, st in entries)
    if len(entries) > limits.max_files or total > limits.max_bytes:
        # the service's own words first ("Your total snapshot size exceeds the limit of 300.0 MB")
        over = (f"your total snapshot size exceeds the limit of {limits.max_bytes / 1e6:.1f} MB"
                if total > limits.max_bytes else f"your snapshot exceeds the limit of {limits.max_files} files")
        raise SnapshotTooLargeError(
            "source_directory", str(root),
            f"{over}: it is {total / 1e6:.1f} MB in {len(entries)} files (largest folders: "
            f"{_largest_folders(entries)})",
            "list folders the job does not need in a .runyardignore (or .amlignore) file at the source root, "
            "keep data in a datastore, or raise RUNYARD_SNAPSHOT_MAX_MB / RUNYARD_SNAPSHOT_MAX_FILES")
    files = tuple(FileEntry(rel, _sha256(full), st.st_size, bool(st.st_mode & stat.S_IXUSR))
                  for rel, full, st in entries)
    return Manifest(files), {rel: full for rel, full, _ in entries}


class BlobStore:
    """Files by content: blobs/<aa>/<sha256>. Writing a blob that exists is a no-op."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path_of(digest).exists()

    def put_file(self, digest: str, source: Path) -> bool:
        target = self.path_of(digest)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)  # atomic: a reader never sees half a blob
        return True

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        return digest


def store(manifest: Manifest, sources: dict[str, Path], blobs: BlobStore) -> int:
    """Copy the manifest's files into the blob store; returns how many were new."""
    new = sum(blobs.put_file(f.digest, sources[f.path]) for f in manifest.files)
    blobs.put_bytes(manifest.to_json().encode())
    return new


def load_manifest(blobs: BlobStore, digest: str) -> Manifest:
    return Manifest.from_json(blobs.path_of(digest).read_text())


def materialize(manifest: Manifest, blobs: BlobStore, dest: Path) -> None:
    """Lay the snapshot out as plain files (copies: a script that edits its sources can't corrupt blobs)."""
    for f in manifest.files:
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blobs.path_of(f.digest), target)
        if f.executable:
            target.chmod(0o755)


def restore_zip(blobs: BlobStore, digest: str, folder: Path) -> Path:
    """The snapshot `digest` as `folder/<digest>.zip` (the service's Run.restore_snapshot)."""
    import zipfile

    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)) \
            or not blobs.has(digest):
        raise InvalidValueError("snapshot_id", digest, "is not a snapshot of this workspace",
                                "pass run.get_snapshot_id() of a run of this workspace, or leave it out")
    manifest = load_manifest(blobs, digest)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in manifest.files:
            archive.write(blobs.path_of(f.digest), f.path)
    return target
