"""The store side of metric transport: read whole new lines of spool files, store them once.

Any process may ingest (the supervisor does it continuously; a reader does one pass before it
reads): each file's offset is stored in the same transaction as its events, so nothing is stored
twice and an ingester that restarts resumes exactly where the last one stopped.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

from runyard.store.base import SpoolEvent, Store

MAX_BATCH_BYTES = 8 << 20
_RANK = re.compile(r"^rank-(\d+)\.")


def parse_events(data: bytes, rank: int) -> list[SpoolEvent]:
    events = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            kind, key, value, step, ts, desc = json.loads(line)
        except (ValueError, TypeError):
            continue  # a damaged line must not block the lines after it
        events.append(SpoolEvent(kind=kind, key=key, value=value, step=step, rank=rank, time=ts,
                                 description=desc or ""))
    return events


def rank_of(source: str) -> int:
    match = _RANK.match(source)
    return int(match.group(1)) if match else 0


Deliver = Callable[[str, bytes, int, int], bool]


def drain_spools(spool_dir: Path, offsets: dict[str, int], deliver: Deliver) -> int:
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
                data = f.read(min(size - start, MAX_BATCH_BYTES))
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


def ingest_once(store: Store, run_id: str, spool_dir: Path) -> int:
    """One pass over every spool file of a run into the store. Returns the number of events stored."""
    stored = 0

    def deliver(source: str, data: bytes, start: int, end: int) -> bool:
        nonlocal stored
        events = parse_events(data, rank_of(source))
        if not store.ingest(run_id, events, source, start, end):
            return False
        stored += len(events)
        return True

    drain_spools(spool_dir, store.spool_offsets(run_id), deliver)
    return stored


class Ingester:
    """Runs ingest_once every `interval` seconds on a thread until stopped; stop() does a last pass."""

    def __init__(self, store: Store, run_id: str, spool_dir: Path, interval: float = 0.5) -> None:
        self.store, self.run_id, self.spool_dir, self.interval = store, run_id, spool_dir, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runyard-ingest", daemon=True)

    def start(self) -> Ingester:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                ingest_once(self.store, self.run_id, self.spool_dir)
            except Exception:  # noqa: BLE001 - a busy database is retried on the next tick
                pass

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return ingest_once(self.store, self.run_id, self.spool_dir)
