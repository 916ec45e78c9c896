"""The store side of metric transport: read whole new lines of spool files, store them once.

Any process may ingest (the supervisor does it continuously; a reader does one pass before it
reads): each file's offset is stored in the same transaction as its events, so nothing is stored
twice and an ingester that restarts resumes exactly where the last one stopped.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runyard.store.base import MetricKind, SpoolEvent, Store

MAX_BATCH_BYTES = 8 << 20
MAX_FLOAT_INT = int(sys.float_info.max)  # a larger int has no float: no store can keep it as a number
_RANK = re.compile(r"^(?:rank|system)-(\d+)\.")  # a rank's spool, or a node's system sampler's


# the largest step a store keeps (SQLite's INTEGER and the packed int64 steps)
MAX_STEP = 2**63 - 1
_EVENT_KINDS = frozenset({k.value for k in MetricKind} | {"tag", "property", "system"})
_log = logging.getLogger(__name__)


class BadSpoolLine(ValueError):
    """A spool line no store should keep; the reason names what is wrong with it."""


def parse_line(line: bytes, rank: int) -> SpoolEvent:
    """One spool line -> an event every store can keep and every reader can show, or BadSpoolLine."""
    try:
        kind, key, value, step, ts, desc = json.loads(line)
    except (ValueError, TypeError, RecursionError):
        raise BadSpoolLine("not a JSON array [kind, key, value, step, time, description]") from None
    if kind not in _EVENT_KINDS:
        raise BadSpoolLine(f"kind={kind!r} is not one of {sorted(_EVENT_KINDS)}")
    if type(key) is not str or not key:
        raise BadSpoolLine(f"key={key!r} is not a non-empty string")
    if step is not None and (type(step) is not int or not 0 <= step <= MAX_STEP):
        raise BadSpoolLine(f"step={step!r} is not an integer from 0 to 2**63-1")
    if type(ts) not in (int, float) or not math.isfinite(ts):
        raise BadSpoolLine(f"time={ts!r} is not a finite number")
    if desc is not None and type(desc) is not str:
        raise BadSpoolLine(f"description={desc!r} is not a string")
    if kind == MetricKind.SCALAR.value:
        if type(value) is int and not -MAX_FLOAT_INT <= value <= MAX_FLOAT_INT:
            raise BadSpoolLine(f"value of {key!r} is an integer too large for a float ({len(str(value))} digits)")
        if value is not None and type(value) not in (int, float, str, bool):
            raise BadSpoolLine(f"value of {key!r} is a {type(value).__name__}, not a number or string")
    elif kind == "system":
        if type(value) is not list or len(value) != 3 or not all(
                type(v) in (int, float) and math.isfinite(v) for v in value):
            raise BadSpoolLine(f"system metric {key!r} is not [mean, min, max] of finite numbers")
    elif kind in ("tag", "property"):
        if value is not None and type(value) is not str:
            raise BadSpoolLine(f"{kind} {key!r} has a non-string value")
    return SpoolEvent(kind=kind, key=key, value=value, step=step, rank=rank, time=float(ts), description=desc or "")


def parse_events(data: bytes, rank: int, rejected: list[str] | None = None) -> list[SpoolEvent]:
    """Every good line of a batch. A bad line is left out (and its reason added to `rejected`): it must
    not stop the lines after it from being stored."""
    events = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(parse_line(line, rank))
        except BadSpoolLine as e:
            if rejected is not None:
                rejected.append(f"line {number}: {e}")
    return events


def rank_of(source: str) -> int:
    match = _RANK.match(source)
    return int(match.group(1)) if match else 0


Deliver = Callable[[str, bytes, int, int], bool]


def drain_spools(spool_dir: Path, offsets: dict[str, int], deliver: Deliver, max_batch: int = MAX_BATCH_BYTES) -> int:
    """Hand every spool file's new whole lines to `deliver(source, data, start, end)`, which stores them
    (locally or on a server) and says whether the offset still matched. Returns the bytes delivered."""
    if not spool_dir.is_dir():
        return 0
    delivered = 0
    for path in sorted(spool_dir.glob("*.jsonl")):
        start = offsets.get(path.name, 0)
        while True:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                break
            if size <= start:
                break
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(min(size - start, max_batch))
            end = data.rfind(b"\n")
            if end < 0:
                break  # a line still being written
            data = data[: end + 1]
            if not deliver(path.name, data, start, start + len(data)):
                break  # someone else stored it meanwhile
            delivered += len(data)
            start += len(data)
            offsets[path.name] = start
    return delivered


def ingest_once(store: Store, run_id: str, spool_dir: Path, mirror: Any = None) -> int:
    """One pass over every spool file of a run into the store. Returns the number of events stored.
    `mirror` (a TensorBoardMirror) gets each batch once it is stored."""
    stored = 0

    def deliver(source: str, data: bytes, start: int, end: int) -> bool:
        nonlocal stored
        rejected: list[str] = []
        events = parse_events(data, rank_of(source), rejected)
        if not store.ingest(run_id, events, source, start, end):
            return False
        for reason in rejected:
            _log.warning("run %s, spool %s (bytes %d-%d): %s; left out", run_id, source, start, end, reason)
        if mirror is not None:
            try:
                mirror.write(events)
            except Exception as e:  # noqa: BLE001 - event files are a view; the store has the data
                _log.warning("run %s: TensorBoard events not written (%s)", run_id, e)
        stored += len(events)
        return True

    drain_spools(spool_dir, store.spool_offsets(run_id), deliver)
    return stored


class Ingester:
    """Runs ingest_once every `interval` seconds on a thread until stopped; stop() does a last pass."""

    def __init__(self, store: Store, run_id: str, spool_dir: Path, interval: float = 0.5, mirror: Any = None) -> None:
        self.store, self.run_id, self.spool_dir, self.interval = store, run_id, spool_dir, interval
        self.mirror = mirror
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runyard-ingest", daemon=True)

    def start(self) -> Ingester:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                ingest_once(self.store, self.run_id, self.spool_dir, self.mirror)
            except Exception:  # noqa: BLE001 - a busy database is retried on the next tick
                pass

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            return ingest_once(self.store, self.run_id, self.spool_dir, self.mirror)
        finally:
            if self.mirror is not None:
                self.mirror.close()
