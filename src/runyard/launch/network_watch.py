"""Is every node still on the network? Each node agent answers TCP connections on its route's address (a
heartbeat port, recorded with its network choice); the supervisor knocks every few seconds. A node that does not
answer at all (no reply, not even a refusal) for PARTITION_SECONDS is partitioned: the run stops naming it rather
than have its ranks hang in a collective until gloo's 30-minute timeout. A refusal is an answer (an agent that
ended or was killed), left to the launchers to judge.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runyard.launch.launcher import JobFailure, RankExit

PARTITION_SECONDS = 10.0
KNOCK_EVERY_SECONDS = 2.0
KNOCK_TIMEOUT_SECONDS = 2.0


class HeartbeatListener:
    """In the node agent: accepts and closes connections on (address, ephemeral port) until closed."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, name="runyard-heartbeat", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            conn.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class _Node:
    address: str
    port: int
    silent_since: float | None = None


@dataclass
class NetworkWatch:
    """A launcher-shaped watcher (launch/launcher.py): never the reason a run completes, only why it fails."""

    spool_dir: Path
    since: float
    nodes: dict[int, _Node] = field(default_factory=dict)
    pgids: list[int] = field(default_factory=list)
    _failure: JobFailure | None = None
    _next: float = 0.0

    def start(self) -> None:
        pass

    def started(self) -> bool:
        return True

    def finished(self) -> bool:
        return True

    def canceled(self) -> bool:
        return False

    def progress(self) -> str | None:
        return None

    def stop(self, grace: float = 0.0) -> None:
        pass

    def dry_run(self) -> list[list[str]]:
        return []

    def _read_nodes(self) -> None:
        """This attempt's agents' records (spool/network-<node>.<pid>.jsonl, written when each started)."""
        for path in self.spool_dir.glob("network-*.jsonl"):
            try:
                if path.stat().st_mtime < self.since:
                    continue
                lines = path.read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    _, key, value, _, at, _ = json.loads(line)
                    record = json.loads(value)
                except (ValueError, TypeError):
                    continue
                node = int(key.rsplit("node", 1)[1])
                if at >= self.since and record.get("heartbeatPort") and node not in self.nodes:
                    self.nodes[node] = _Node(record["address"], int(record["heartbeatPort"]))

    def failure(self) -> RankExit | JobFailure | None:
        now = time.monotonic()
        if self._failure is not None or now < self._next:
            return self._failure
        self._next = now + KNOCK_EVERY_SECONDS
        self._read_nodes()
        for number, node in sorted(self.nodes.items()):
            if _answers(node.address, node.port):
                node.silent_since = None
                continue
            node.silent_since = node.silent_since or now
            if now - node.silent_since >= PARTITION_SECONDS:
                self._failure = JobFailure(
                    f"node {number} ({node.address}) stopped answering on the network for {PARTITION_SECONDS:g} s "
                    "(partitioned); its ranks and their peers were stopped", time.monotonic(), node_lost=True)
        return self._failure


def _answers(address: str, port: int) -> bool:
    """Whether the host replies at all: an accept or a refusal is a reply, a timeout or no route is not."""
    try:
        with socket.create_connection((address, port), timeout=KNOCK_TIMEOUT_SECONDS):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
