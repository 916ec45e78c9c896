"""The supervisor fork server: `python -m runyard.supervisor_server SOCKET`. A per-user process that has
the supervisor's modules imported already and forks one supervisor per run, so a run's supervisor starts
in milliseconds instead of paying an interpreter start and ~200 ms of imports (supervisor_start.py is
the client, and what decides when one is used).

It serves only its own user (SO_PEERCRED), forks from a single thread (no lock is held across fork), and
never runs old code: before each fork it re-checks every non-stdlib file it imported, and a changed one
makes it answer "stale" and exit (the client starts the supervisor the usual way and a new server).
It exits after RUNYARD_FORK_SERVER_IDLE seconds without a request (600 by default), or when its socket is
taken over or removed. The supervisors it forked are their own sessions and outlive it.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import sysconfig
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# what a supervisor imports on its way to its first rank (the difference of sys.modules over a local run)
PRELOAD = ("runyard.supervisor", "runyard.compute.registry", "runyard.compute.local", "runyard.compute.box_queue",
           "runyard.compute.gpus", "runyard.hyperdrive.controller", "runyard.environments.build",
           "runyard.store.sqlite", "runyard.store.location", "runyard.artifacts", "runyard.locations",
           "runyard.provenance", "runyard.snapshot", "runyard.launch.expand", "runyard.launch.data_bindings",
           "runyard.launch.faults", "runyard.launch.provenance_record", "runyard.launch.rendezvous",
           "runyard.tracking.tensorboard_events", "ctypes.util", "encodings.idna")
OPTIONAL_PRELOAD = ("pynvml",)  # nvidia-ml-py, when installed
MODULES = frozenset({"runyard.supervisor", "runyard.hyperdrive.controller"})  # what a request may run
IDLE_ENV = "RUNYARD_FORK_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 600.0
TICK_SECONDS = 1.0
READY_SECONDS = 5.0  # how long the server waits for a forked child to be set up before it answers
MAX_REQUEST_BYTES = 4 << 20


@dataclass(frozen=True)
class ForkRequest:
    """One supervisor to start: `python -m module *args` in `cwd` with exactly `env`, output to `log`."""

    module: str
    args: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    log: str
    umask: int

    @classmethod
    def from_json(cls, text: str) -> ForkRequest:
        data = json.loads(text)
        return cls(module=str(data["module"]), args=tuple(map(str, data["args"])), cwd=str(data["cwd"]),
                   env={str(k): str(v) for k, v in data["env"].items()}, log=str(data["log"]),
                   umask=int(data["umask"]))

    def to_json(self) -> str:
        return json.dumps({"module": self.module, "args": list(self.args), "cwd": self.cwd, "env": self.env,
                           "log": self.log, "umask": self.umask})


def _loaded_files() -> dict[str, tuple[int, int]]:
    """(mtime, size) of every imported module file outside the standard library: what a stale check stats."""
    stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    found: dict[str, tuple[int, int]] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or any(path.startswith(p + os.sep) and "site-packages" not in path for p in stdlib):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        found[path] = (st.st_mtime_ns, st.st_size)
    return found


def _changed(files: dict[str, tuple[int, int]]) -> str | None:
    for path, seen in files.items():
        try:
            st = os.stat(path)
        except OSError:
            return path
        if (st.st_mtime_ns, st.st_size) != seen:
            return path
    return None


def _set_title(title: str) -> None:
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)


class _Stopped(Exception):
    """SIGTERM: leave, taking the socket along."""


def _stop(*_: object) -> None:
    raise _Stopped


def _reap(*_: object) -> None:
    """SIGCHLD: collect every supervisor that ended, so none stays a zombie while this server lives."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _run_child(request: ForkRequest, ready: int) -> None:
    """In the forked child: become the process `python -m module args` would have been. A byte on `ready` says
    it is its own session in the run's folder with the run's log as its output and the submitter's environment
    (the server answers the submitter only then: whoever gets the pid may look at it at once)."""
    code: int | str | None = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        log = os.open(request.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request.cwd)
        os.umask(request.umask)
        os.environ.clear()
        os.environ.update(request.env)
        time.tzset()
        os.write(ready, b"1")  # a failure before this closes the pipe at exit: the server never waits it out
        os.closerange(3, 65536)  # the socket, the lock file, the pipe: a supervisor holds none of the server's
        sys.argv = [request.module, *request.args]
        sys.path[0] = request.cwd  # as `python -m` run from cwd would have it
        # both served modules are `sys.exit(main(sys.argv))` under __main__; calling main() spares runpy
        # re-running a module that is imported already
        code = importlib.import_module(request.module).main(sys.argv)
    except SystemExit as stop:
        code = stop.code
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _read_request(conn: socket.socket) -> ForkRequest:
    header = _recv_exact(conn, 4)
    (length,) = struct.unpack("!I", header)
    if length > MAX_REQUEST_BYTES:
        raise ValueError(f"request of {length} bytes")
    return ForkRequest.from_json(_recv_exact(conn, length).decode())


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
    return data


def _reply(conn: socket.socket, answer: dict[str, object]) -> None:
    body = json.dumps(answer).encode()
    conn.sendall(struct.pack("!I", len(body)) + body)


class ForkServer:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.idle_seconds = float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS)
        self.files: dict[str, tuple[int, int]] = {}
        self.listener: socket.socket | None = None
        self.inode = 0
        self.lock: int | None = None
        self.title = " ".join([sys.executable, "-m", "runyard.supervisor_server", str(socket_path)])

    def serve(self) -> int:
        self.lock = os.open(str(self.socket_path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another server for this key is starting or serving
        for name in PRELOAD:
            importlib.import_module(name)
        for name in OPTIONAL_PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        self.files = _loaded_files()
        self.listener = self._bind()
        signal.signal(signal.SIGCHLD, _reap)
        signal.signal(signal.SIGTERM, _stop)
        last_request = time.monotonic()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.listener, selectors.EVENT_READ)
                while True:
                    if selector.select(TICK_SECONDS):
                        conn, _ = self.listener.accept()
                        last_request = time.monotonic()
                        if not self._handle(conn):
                            break
                    elif time.monotonic() - last_request > self.idle_seconds or not self._socket_is_mine():
                        break
        except _Stopped:
            pass
        self._release()
        return 0

    def _bind(self) -> socket.socket:
        self.socket_path.unlink(missing_ok=True)  # a dead server's file (we hold the lock: no live one)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        listener.listen(64)
        self.inode = os.stat(self.socket_path).st_ino
        return listener

    def _release(self) -> None:
        """Give up the socket and the lock, so that a new server for this key can start at once."""
        if self._socket_is_mine():
            self.socket_path.unlink(missing_ok=True)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    def _socket_is_mine(self) -> bool:
        try:
            return os.stat(self.socket_path).st_ino == self.inode
        except OSError:
            return False

    def _handle(self, conn: socket.socket) -> bool:
        """Fork one supervisor for this connection; False when this server must stop (its code changed)."""
        with conn:
            conn.settimeout(5.0)
            try:
                uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))[1]
                if uid != os.getuid():
                    return True
                request = _read_request(conn)
                if request.module not in MODULES:
                    _reply(conn, {"error": f"module {request.module!r} is not served"})
                    return True
                changed = _changed(self.files)
                if changed is not None:
                    # released before the answer: the server the client starts next must find the lock free
                    self._release()
                    _reply(conn, {"stale": changed})
                    return False
                sys.stdout.flush()
                sys.stderr.flush()
                # `ps` and every tool that finds a run's processes by command line see the supervisor from its
                # first instant: the title is set before the fork, and the server takes its own back after
                _set_title(" ".join([sys.executable, "-m", request.module, *request.args]))
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(read_end)
                    _run_child(request, write_end)  # never returns
                os.close(write_end)
                _set_title(self.title)
                try:
                    # a pid handed out is already a session of its own (tools and tests look at once)
                    select.select([read_end], [], [], READY_SECONDS)
                finally:
                    os.close(read_end)
                _reply(conn, {"pid": pid, "server": os.getpid()})
            except (OSError, ValueError, KeyError, ConnectionError) as error:
                print(f"[runyard fork server] request dropped: {error}", flush=True)
        return True


def main(argv: list[str]) -> int:
    return ForkServer(Path(argv[1])).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
