"""Shipping a run's spools to a runyard server, for workers that cannot reach the workspace's files.

The same batches the local ingester stores, sent as whole lines with their file offset; the server stores
each batch exactly once (store.ingest checks the offset, before it parses anything). While the server is
down nothing is lost: the spool files stay on disk, and the shipper resumes from the server's offsets when
it is back. Batches are at most SHIP_BATCH_BYTES, so each request takes a bounded time however much was
logged; one pass runs at a time, so a flush and the background thread never send the same batch twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from runyard.errors import RunyardError
from runyard.tracking.ingest import drain_spools

SHIP_BATCH_BYTES = 1 << 20
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backlog:
    """What the spools hold beyond what the server has stored."""

    bytes: int
    files: int

    def __bool__(self) -> bool:
        return self.bytes > 0


class SpoolShipper:
    def __init__(self, url: str, run_id: str, spool_dir: Path, token: str | None = None,
                 interval: float = 0.5, timeout: float = 60.0) -> None:
        self.base = f"{url.rstrip('/')}/api/v1/runs/{urllib.parse.quote(run_id)}/spool"
        self.spool_dir, self.token, self.interval, self.timeout = spool_dir, token, interval, timeout
        self._offsets: dict[str, int] | None = None  # None: ask the server first (it may have restarted)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runyard-ship", daemon=True)
        self._one_pass = threading.Lock()
        self.last_error: str | None = None

    def _request(self, url: str, data: bytes | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/octet-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            text = e.read() or b"{}"
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"detail": text.decode(errors="replace")[:500]}

    def ship_once(self) -> int:
        """One pass; returns the bytes the server accepted. Raises OSError while the server is away."""
        with self._one_pass:
            return self._ship()

    def _ship(self) -> int:
        if self._offsets is None:
            _, offsets = self._request(self.base)
            self._offsets = {str(k): int(v) for k, v in offsets.items()}
        offsets = self._offsets

        def deliver(source: str, data: bytes, start: int, end: int) -> bool:
            status, body = self._request(f"{self.base}/{urllib.parse.quote(source)}?start={start}", data)
            if status == 409:  # the server has more (or less) than we thought: take its word
                offsets[source] = int(body["offset"])
                return False
            if status != 200:
                raise OSError(f"server answered {status}: {body}")
            return True

        return drain_spools(self.spool_dir, offsets, deliver, max_batch=SHIP_BATCH_BYTES)

    def spool_sizes(self) -> dict[str, int]:
        """Each spool file's size now: the whole lines a flush waits for (the writer writes whole lines)."""
        if not self.spool_dir.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in self.spool_dir.glob("*.jsonl")}

    def backlog(self, targets: dict[str, int]) -> Backlog:
        """Bytes up to `targets` the server has not stored, by the offsets it last answered."""
        offsets = self._offsets or {}
        owed = [size - offsets.get(name, 0) for name, size in targets.items() if size > offsets.get(name, 0)]
        return Backlog(sum(owed), len(owed))

    def deliver_all(self, timeout: float, what: str) -> None:
        """Return once the server has stored every whole line written so far; say how it goes every few
        seconds; after `timeout` seconds raise a RunyardError naming what is left and where it is kept."""
        started = time.monotonic()
        reported = started
        targets = self.spool_sizes()  # what was logged before the flush; later lines do not hold it up
        while True:
            self._pass()
            left = self.backlog(targets)
            if not left and self.last_error is None:
                return
            now = time.monotonic()
            if now - started >= timeout:
                reason = f" (last error: {self.last_error})" if self.last_error else ""
                raise RunyardError(
                    f"flush: {left.bytes} bytes of {what} in {left.files} spool file(s) have not reached "
                    f"{self.base.split('/api/')[0]} after {timeout:g}s{reason}; nothing is lost: they are kept in "
                    f"{self.spool_dir} and sent when the server answers. Fix: check the server, or call "
                    "flush(timeout_seconds=...) with a longer timeout")
            if now - reported >= 5.0:
                _log.info("flush: %.1f MB of %s left to send to %s", left.bytes / 1e6, what,
                          self.base.split("/api/")[0])
                reported = now
            if left or self.last_error:
                time.sleep(0.05 if not self.last_error else 0.5)

    def _pass(self) -> None:
        try:
            self.ship_once()
            self.last_error = None
        except OSError as e:  # server down or unreachable: try again later, from its offsets
            self.last_error = str(e)
            self._offsets = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._pass()

    def start(self) -> SpoolShipper:
        self._thread.start()
        return self

    def stop(self, attempts: int = 3) -> None:
        """Stop the thread, then try to ship what is left a few times."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for _ in range(attempts):
            self._pass()
            if self.last_error is None:
                return
