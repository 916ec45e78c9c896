"""The box scheduler's ledger: who waits (box_requests) and who holds what (box_grants), per host, in the store.

Every decision is one write transaction: holders and waiters whose process is gone are dropped, the queue is
planned (compute/box.plan), grants are written, and each waiting run's reason is set as its status detail.
SQLite serialises these by its write lock; PostgreSQL by an advisory lock per host. So no GPU is ever granted
twice, whichever process decides, and a restarted server or a killed supervisor leaves nothing held.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runyard.status import RunStatus

if TYPE_CHECKING:
    from runyard.box import Capacity, Decision, Grant, Request
    from runyard.store.sql import SqlStore, Tx

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS box_requests (
    run_id TEXT PRIMARY KEY, host TEXT NOT NULL, owner TEXT NOT NULL, priority INTEGER NOT NULL,
    submitted DOUBLE PRECISION NOT NULL, turn INTEGER NOT NULL, gpus INTEGER NOT NULL, cpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
    pid INTEGER NOT NULL, pid_start DOUBLE PRECISION, reason TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS box_requests_by_host ON box_requests(host);
CREATE TABLE IF NOT EXISTS box_grants (
    run_id TEXT PRIMARY KEY, host TEXT NOT NULL, owner TEXT NOT NULL, gpus TEXT NOT NULL, cores TEXT NOT NULL,
    memory_mb INTEGER NOT NULL, pid INTEGER NOT NULL, pid_start DOUBLE PRECISION, granted DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS box_grants_by_host ON box_grants(host);
"""

# (run id, pid, pid start time) -> whether the process that holds or waits is still there
HolderAlive = Callable[[str, int, "float | None"], bool]


@dataclass(frozen=True)
class Waiting:
    request: Request
    reason: str
    pid: int
    pid_start: float | None = None


@dataclass(frozen=True)
class Holding:
    grant: Grant
    granted: float
    pid: int
    pid_start: float | None = None


@dataclass(frozen=True)
class LedgerState:
    holding: list[Holding]
    waiting: list[Waiting]     # in the order they are served


class BoxLedger:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _locked(self, tx: Tx, host: str) -> None:
        if self.store.dialect.host_lock:
            tx.execute(self.store.dialect.host_lock, (f"runyard-box:{host}",))

    def enqueue(self, host: str, request: Request, pid: int, pid_start: float | None) -> None:
        """Queue `request`; its owner's turn is fixed now (compute/box.fair_turn)."""
        from runyard.box import fair_turn

        with self.store._tx() as tx:
            self._locked(tx, host)
            tx.execute("DELETE FROM box_requests WHERE run_id=?", (request.run_id,))
            held, waiting = self._rows(tx, host)
            turn = fair_turn(request.owner, [w.request for w in waiting], [h.grant for h in held])
            tx.execute("INSERT INTO box_requests(run_id, host, owner, priority, submitted, turn, gpus, cpus,"
                       " memory_mb, pid, pid_start, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,'')",
                       (request.run_id, host, request.owner, request.priority, request.submitted, turn, request.gpus,
                        request.cpus, request.memory_mb, pid, pid_start))

    def decide(self, host: str, capacity: Capacity, alive: HolderAlive,
               gpu_users: dict[str, list[int]] | None = None) -> Decision:
        """Plan the host's queue and write what it decided, in one transaction."""
        from runyard.box import plan

        with self.store._tx() as tx:
            self._locked(tx, host)
            held, waiting = self._rows(tx, host)
            gone = [h.grant.run_id for h in held if not alive(h.grant.run_id, h.pid, h.pid_start)]
            left = [w.request.run_id for w in waiting if not alive(w.request.run_id, w.pid, w.pid_start)]
            tx.executemany("DELETE FROM box_grants WHERE run_id=?", [(r,) for r in gone])
            tx.executemany("DELETE FROM box_requests WHERE run_id=?", [(r,) for r in left])
            holders = [h.grant for h in held if h.grant.run_id not in gone]
            queue = [w.request for w in waiting if w.request.run_id not in left]
            decision = plan(capacity, holders, queue, gpu_users)
            now = time.time()
            by_id = {w.request.run_id: w for w in waiting}
            for grant in decision.grants:
                w = by_id[grant.run_id]
                tx.execute("INSERT INTO box_grants(run_id, host, owner, gpus, cores, memory_mb, pid, pid_start,"
                           " granted) VALUES (?,?,?,?,?,?,?,?,?)",
                           (grant.run_id, host, grant.owner, json.dumps(list(grant.gpus)),
                            json.dumps(list(grant.cores)), grant.memory_mb, w.pid, w.pid_start, now))
                tx.execute("DELETE FROM box_requests WHERE run_id=?", (grant.run_id,))
                tx.execute("UPDATE runs SET status_detail='' WHERE run_id=?", (grant.run_id,))
            for run_id, reason in decision.reasons.items():
                if by_id[run_id].reason != reason:
                    tx.execute("UPDATE box_requests SET reason=? WHERE run_id=?", (reason, run_id))
                    tx.execute("UPDATE runs SET status_detail=? WHERE run_id=? AND status=?",
                               (reason, run_id, RunStatus.QUEUED.value))
            return decision

    def release(self, run_id: str) -> str | None:
        """Forget what `run_id` holds or waits for; the host it was on (to wake that host's waiters)."""
        with self.store._tx() as tx:
            row = tx.one("SELECT host FROM box_grants WHERE run_id=?", (run_id,)) or \
                tx.one("SELECT host FROM box_requests WHERE run_id=?", (run_id,))
            tx.execute("DELETE FROM box_grants WHERE run_id=?", (run_id,))
            tx.execute("DELETE FROM box_requests WHERE run_id=?", (run_id,))
        return None if row is None else str(row[0])

    def set_priority(self, run_id: str, priority: int) -> str | None:
        """A waiting run's new priority; its host, or None when it does not wait (any more)."""
        with self.store._tx() as tx:
            row = tx.one("SELECT host FROM box_requests WHERE run_id=?", (run_id,))
            tx.execute("UPDATE box_requests SET priority=? WHERE run_id=?", (priority, run_id))
        return None if row is None else str(row[0])

    def grant_of(self, run_id: str) -> Grant | None:
        from runyard.box import Grant

        row = self.store._query("SELECT owner, gpus, cores, memory_mb FROM box_grants WHERE run_id=?", (run_id,))
        if not row:
            return None
        owner, gpus, cores, memory = row[0]
        return Grant(run_id, owner, tuple(json.loads(gpus)), tuple(json.loads(cores)), int(memory))

    def waiters(self, host: str) -> list[str]:
        return [r[0] for r in self.store._query("SELECT run_id FROM box_requests WHERE host=?", (host,))]

    def state(self, host: str) -> LedgerState:
        from runyard.box import queue_order

        with self.store._read() as tx:
            held, waiting = self._rows(tx, host)
        order = {r.run_id: i for i, r in enumerate(queue_order([w.request for w in waiting]))}
        return LedgerState(sorted(held, key=lambda h: h.granted),
                           sorted(waiting, key=lambda w: order[w.request.run_id]))

    @staticmethod
    def _rows(tx: Tx, host: str) -> tuple[list[Holding], list[Waiting]]:
        from runyard.box import Grant, Request

        held = [Holding(Grant(run_id, owner, tuple(json.loads(gpus)), tuple(json.loads(cores)), int(memory)),
                        float(granted), int(pid), start)
                for run_id, owner, gpus, cores, memory, pid, start, granted in tx.rows(
                    "SELECT run_id, owner, gpus, cores, memory_mb, pid, pid_start, granted FROM box_grants WHERE host=?"
                    " ORDER BY granted", (host,))]
        waiting = [Waiting(Request(run_id, owner, int(priority), float(submitted), int(gpus), int(cpus), int(memory),
                                   int(turn)), reason, int(pid), start)
                   for run_id, owner, priority, submitted, turn, gpus, cpus, memory, pid, start, reason in tx.rows(
                       "SELECT run_id, owner, priority, submitted, turn, gpus, cpus, memory_mb, pid, pid_start, reason"
                       " FROM box_requests WHERE host=? ORDER BY submitted", (host,))]
        return held, waiting

