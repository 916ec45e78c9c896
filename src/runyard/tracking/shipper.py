"""Shipping a run's spools to a runyard server, for workers that cannot reach the workspace's files.

The same batches the local ingester stores, sent as whole lines with their file offset; the server stores
each batch exactly once (store.ingest checks the offset). While the server is down nothing is lost: the
spool files stay on disk, and the shipper resumes from the server's offsets when it is back.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from runyard.tracking.ingest import drain_spools


class SpoolShipper:
    def __init__(self, url: str, run_id: str, spool_dir: Path, token: str | None = None,
                 interval: float = 0.5, timeout: float = 10.0) -> None:
        self.base = f"{url.rstrip('/')}/api/v1/runs/{urllib.parse.quote(run_id)}/spool"
        self.spool_dir, self.token, self.interval, self.timeout = spool_dir, token, interval, timeout
        self._offsets: dict[str, int] | None = None  # None: ask the server first (it may have restarted)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runyard-ship", daemon=True)
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
            return e.code, json.loads(e.read() or b"{}")

    def ship_once(self) -> int:
        """One pass; returns the bytes the server accepted. Raises OSError while the server is away."""
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

        return drain_spools(self.spool_dir, offsets, deliver)

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
