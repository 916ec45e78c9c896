"""Starting a run's supervisor fast: through the per-user fork server (supervisor_server.py) when one
serves this interpreter and setting, else as a new process, starting a server for the next run.

A server is keyed by everything a forked supervisor would inherit from it rather than from the submitter:
the interpreter, PYTHON* variables (PYTHONPATH with this runyard first), the cgroup, the namespaces, the
CPU affinity, the resource limits and the nice value. What a request carries (environment, working folder, umask, log) is the submitter's own, so a
forked supervisor sees what a spawned one would. RUNYARD_FORK_SERVER=0 turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import stat
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from runyard.errors import RunyardError

SWITCH_ENV = "RUNYARD_FORK_SERVER"
RUNTIME_ENV = "RUNYARD_RUNTIME_DIR"
SERVED_MODULES = ("runyard.supervisor", "runyard.hyperdrive.controller")
CONNECT_SECONDS = 2.0
REPLY_SECONDS = 10.0
MAX_SOCKET_PATH = 104  # bytes: sun_path holds 108 on Linux, fewer elsewhere
# what a server keeps of the submitter's environment: what decides which files Python imports and how
_SERVER_ENV_KEEP = ("PATH", "HOME", "LANG", "TMPDIR", "USER", "LOGNAME", "TZ", "VIRTUAL_ENV", "SSL_CERT_FILE")


def runtime_dir() -> Path | None:
    """This user's private folder for fork server sockets, or None when no safe one can be had."""
    chosen = os.environ.get(RUNTIME_ENV)
    if chosen:
        folder = Path(chosen)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "runyard"
    else:
        folder = Path("/tmp") / f"runyard-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    # someone else's folder (or a symlink to one) would hand our runs' environment to another user
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def server_key(env: dict[str, str]) -> str:
    """Which server may fork a supervisor for a submitter with `env` (see the module's docstring)."""
    limits = [resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")]
    parts = [sys.executable, sys.version, repr(sorted((k, v) for k, v in env.items() if k.startswith("PYTHON"))),
             _read("/proc/self/cgroup"), repr(sorted(os.sched_getaffinity(0))), repr(limits),
             str(os.getpriority(os.PRIO_PROCESS, 0))]
    for ns in ("mnt", "net", "pid", "user", "uts", "ipc"):
        try:
            parts.append(os.readlink(f"/proc/self/ns/{ns}"))
        except OSError:
            parts.append("")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1") not in ("0", "false", "no", "off") and hasattr(os, "fork")


def served(command: list[str]) -> bool:
    """Whether `command` is one a fork server can start: this interpreter running a served module."""
    return len(command) >= 3 and command[0] == sys.executable and command[1] == "-m" and command[2] in SERVED_MODULES


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!I", len(payload)) + payload)


def _receive(sock: socket.socket) -> dict[str, object]:
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the fork server closed the connection without an answer")
        data += chunk
    answer = json.loads(data[4:].decode())
    if not isinstance(answer, dict):
        raise ConnectionError(f"the fork server answered {answer!r}")
    return answer


@dataclass(frozen=True)
class Forked:
    pid: int  # the supervisor
    server_pid: int  # the fork server that forked it (its parent)


def fork_supervisor(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Forked | None:
    """The supervisor a fork server started for `command`, or None when none could (then the caller starts
    it as a process, and a server has been started for the next run)."""
    folder = runtime_dir()
    if folder is None:
        return None
    socket_path = folder / f"fs-{server_key(env)}.sock"
    if len(str(socket_path).encode()) > MAX_SOCKET_PATH:
        return None
    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps({"module": command[2], "args": command[3:], "cwd": str(cwd), "env": env,
                          "log": str(log), "umask": umask}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_SECONDS)
        try:
            sock.connect(str(socket_path))
            _send(sock, request)
        except OSError:  # none serving (or it just left before reading): nothing was started
            start_server(socket_path, env)
            return None
        sock.settimeout(REPLY_SECONDS)
        try:
            answer = _receive(sock)
        except (OSError, ValueError) as error:
            # it may have forked before failing to answer: starting another supervisor could run the run twice
            raise RunyardError(f"the supervisor fork server at {socket_path} took the request but did not answer "
                               f"({error}). Fix: check `runyard show` for the run; set {SWITCH_ENV}=0 to start "
                               "supervisors as new processes") from error
    finally:
        sock.close()
    if "pid" in answer:
        return Forked(int(answer["pid"]), int(answer["server"]))  # type: ignore[call-overload]
    if "stale" in answer:  # runyard or a library it imported changed: that server has left
        start_server(socket_path, env)
    return None


def start_server(socket_path: Path, env: dict[str, str]) -> None:
    """Start a fork server for `socket_path`'s key, detached, without waiting for it to be ready."""
    server_env = {k: v for k, v in env.items() if k.startswith("PYTHON") or k in _SERVER_ENV_KEEP or k.startswith("LC_")}
    if os.environ.get("RUNYARD_FORK_SERVER_IDLE"):
        server_env["RUNYARD_FORK_SERVER_IDLE"] = os.environ["RUNYARD_FORK_SERVER_IDLE"]
    log = socket_path.with_suffix(".log")
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "runyard.supervisor_server", str(socket_path)],
                                    cwd="/", env=server_env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    except OSError:
        return  # runs still start, as processes
    threading.Thread(target=proc.wait, name="runyard-fork-server-reap", daemon=True).start()
