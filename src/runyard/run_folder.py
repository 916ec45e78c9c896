"""RunFolder: the one owner of a run's on-disk layout.

    runs/<run id>/spec.json                 the JobSpec
    runs/<run id>/wd/                       the script's working directory (snapshot, ./outputs, ./logs)
    runs/<run id>/user_logs/std_log_rank_<r>.txt   each rank's stdout+stderr
    runs/<run id>/system_logs/              supervisor.txt, prepare.txt
    runs/<run id>/spool/                    metric spools, one per rank process
    runs/<run id>/uploads/                  files added with run.upload_file
    runs/<run id>/supervisor.json           pid and start time of the supervisor
    runs/<run id>/ranks.json                process group ids of running ranks
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path

from runyard.errors import InvalidValueError

# Folders of a run that are visible as its files, by the name prefix they get.
_VISIBLE = (("outputs", "wd/outputs"), ("logs", "wd/logs"), ("user_logs", "user_logs"),
            ("system_logs", "system_logs"))


class RunFolder:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def working_dir(self) -> Path:
        return self.path / "wd"

    @property
    def user_logs(self) -> Path:
        return self.path / "user_logs"

    @property
    def system_logs(self) -> Path:
        return self.path / "system_logs"

    @property
    def spool_dir(self) -> Path:
        return self.path / "spool"

    @property
    def uploads(self) -> Path:
        return self.path / "uploads"

    @property
    def supervisor_file(self) -> Path:
        return self.path / "supervisor.json"

    @property
    def ranks_file(self) -> Path:
        return self.path / "ranks.json"

    @property
    def cancel_file(self) -> Path:
        return self.path / "cancel-requested"

    def rank_log(self, rank: int, attempt: int = 0) -> Path:
        suffix = f"_attempt_{attempt}" if attempt else ""
        return self.user_logs / f"std_log_rank_{rank}{suffix}.txt"

    @property
    def prepare_log(self) -> Path:
        return self.system_logs / "prepare.txt"

    @property
    def supervisor_log(self) -> Path:
        return self.system_logs / "supervisor.txt"

    def create(self, spec_json: str) -> None:
        for folder in (self.path, self.working_dir, self.user_logs, self.system_logs, self.spool_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.spec_file.write_text(spec_json)

    # -- pids -----------------------------------------------------------------------------------
    def write_json(self, path: Path, data: object) -> None:
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def read_json(self, path: Path) -> dict | None:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None

    # -- files ----------------------------------------------------------------------------------
    def files(self) -> Iterator[tuple[str, Path]]:
        """(run file name, path on disk) for every file the run exposes."""
        # a symlink the script left that leads out of the run (to /etc/passwd, to the database) is not its file
        for prefix, rel in _VISIBLE:
            base = self.path / rel
            if base.is_dir():
                for p in sorted(base.rglob("*")):
                    if p.is_file() and _inside(p, self.path):
                        yield _shown(f"{prefix}/{p.relative_to(base).as_posix()}"), p
        if self.uploads.is_dir():
            for p in sorted(self.uploads.rglob("*")):
                if p.is_file() and _inside(p, self.uploads):
                    yield _shown(p.relative_to(self.uploads).as_posix()), p

    def file_path(self, name: str) -> Path:
        for file_name, path in self.files():
            if file_name == name:
                return path
        raise InvalidValueError("name", name, f"is not a file of run {self.run_id}",
                                "pick one of run.get_file_names()")

    def path_of(self, name: str) -> Path | None:
        """The file or folder on disk behind a run file name or folder prefix ('outputs/model',
        './outputs/model.pt'); None for a name that is not one, or that leads out of the run."""
        clean = posixpath.normpath(name.replace("\\", "/")).lstrip("/") if name else ""
        if not clean or clean == "." or clean == ".." or clean.startswith("../") or name.startswith("/"):
            return None
        for prefix, rel in _VISIBLE:
            if clean == prefix or clean.startswith(prefix + "/"):
                base = self.path / rel
                candidate = base / clean[len(prefix):].lstrip("/")
                if candidate.exists() and _inside(candidate, base):
                    return candidate
        candidate = self.uploads / clean
        return candidate if candidate.exists() and _inside(candidate, self.uploads) else None

    def upload_target(self, name: str) -> Path:
        """Where run.upload_file(name, ...) stores a file, confined to the run."""
        clean = Path(name)
        if clean.is_absolute() or ".." in clean.parts or not name.strip() or clean.parts in ((), (".",)) \
                or "\x00" in name or any(len(part.encode()) > 255 for part in clean.parts):
            raise InvalidValueError("name", name, "must be a relative path inside the run, without '..' (and no NUL; "
                                    "each part at most 255 bytes)", "pass a name such as 'outputs/model.pt'")
        target = self.uploads / clean
        if not _inside(target, self.uploads):
            raise InvalidValueError("name", name, "leads out of the run (through a symlink)",
                                    "pass a name whose folders are inside the run")
        return target


def _inside(path: Path, base: Path) -> bool:
    """True when `path`, with every symlink resolved, is `base` or below it."""
    resolved, root = path.resolve(), base.resolve()
    return resolved == root or root in resolved.parents


def _shown(name: str) -> str:
    """A file name that is not UTF-8 (bytes a script wrote) is shown with those bytes as \\xNN escapes, so
    every reader (JSON, the UI, a terminal) can carry it; file_path() maps it back."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
