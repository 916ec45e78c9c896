"""The worker side of metric transport: an in-memory queue drained to an append-only spool file.

`append()` is the whole cost on the training thread: one tuple, one deque append. A daemon thread
turns values into JSON (a tensor becomes a float there, so the training thread never waits on the
GPU) and appends lines to `spool/rank-<rank>.<pid>.jsonl` every FLUSH_INTERVAL seconds, at exit, on
SIGTERM, and before a fork. The supervisor ingests those files into the store.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

FLUSH_INTERVAL = 0.25
YIELD_EVERY = 32
_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode


def to_plain(value: Any) -> Any:
    """Tensors, numpy values and containers of them -> JSON-ready Python values (off the hot path)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return item()  # numpy scalars, 0-d and one-element tensors (this is where a GPU sync happens)
        except (ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    return str(value)


class SpoolWriter:
    def __init__(self, spool_dir: str | os.PathLike[str], rank: int = 0, flush_interval: float = FLUSH_INTERVAL,
                 name: str | None = None) -> None:
        self.spool_dir = Path(spool_dir)
        self.rank = rank
        self.flush_interval = flush_interval
        self._name = name
        self._lock = threading.Lock()        # one drain at a time (thread, atexit, signal)
        self._closed = False
        self._reset()
        atexit.register(self.close)
        os.register_at_fork(before=self.flush, after_in_child=self._reset)
        _chain_sigterm(self.flush)

    def _reset(self) -> None:
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._path = self.spool_dir / (self._name or f"rank-{self.rank}.{os.getpid()}.jsonl")
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def path(self) -> Path:
        return self._path

    def append(self, kind: str, key: str, value: Any, step: int | None = None, description: str = "") -> None:
        self._queue.append((kind, key, value, step, time.time(), description))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="runyard-spool", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Drain the queue to disk. Safe from any thread; lines are whole or absent."""
        if not self._queue:
            return
        with self._lock:
            lines = []
            pop = self._queue.popleft
            while self._queue:
                kind, key, value, step, ts, desc = pop()
                if type(value) is not float and type(value) is not int:
                    try:
                        value = to_plain(value)
                    except Exception as e:  # noqa: BLE001 - one odd value must not stop the spool thread
                        value = f"<unreadable {type(value).__name__}: {e}>"
                lines.append(_dumps([kind, key, value, step, ts, desc]))
                if len(lines) % YIELD_EVERY == 0:
                    # hand the GIL back: the training thread re-acquires it after every op that
                    # released it, and must not wait a whole switch interval behind this loop
                    time.sleep(0)
            if lines:
                self.spool_dir.mkdir(parents=True, exist_ok=True)
                with open(self._path, "a", encoding="utf-8") as f:
                    f.write("\n".join(lines) + "\n")

    def close(self) -> None:
        if self._closed:
            return
        self._stopping = True
        self._wake.set()
        self.flush()
        self._closed = True


def _chain_sigterm(flush: Any) -> None:
    """On SIGTERM (cancel, a failing peer rank), write what is queued, then die as SIGTERM would."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return
    if previous not in (signal.SIG_DFL, None):
        return  # the script (or a framework) handles SIGTERM itself; atexit still flushes

    def handler(signum: int, frame: Any) -> None:
        flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
