"""A fault asked for at a step, fired by the rank itself when it logs that step: exactly at it, with nothing
polling. The supervisor sets RUNYARD_FAULT for the attempt the fault is meant for; the rank (or every rank
of the node) it names writes what happened to <run dir>/faults/rank_<r>.json, then kills or stops itself."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from runyard.spec import Fault, FaultKind

FAULT_ENV = "RUNYARD_FAULT"


class StepFault:
    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.at_step: int = fault.at_step if fault.at_step is not None else -1
        self.armed = True

    def fire(self, step: int, writer: Any) -> None:
        self.armed = False
        if writer is not None:
            writer.flush()  # what the rank logged up to this step is kept
        rank = os.environ.get("RUNYARD_RANK", "0")
        report = {"fault": self.fault.describe(), "rank": int(rank), "step": step, "pid": os.getpid(),
                  "time": time.time()}
        run_dir = os.environ.get("RUNYARD_RUN_DIR")
        if run_dir:
            folder = os.path.join(run_dir, "faults")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"rank_{rank}.json"), "w") as f:
                json.dump(report, f)
        if self.fault.kind is FaultKind.DELAY_RANK:
            time.sleep(self.fault.duration)  # a straggler: this rank falls behind, its peers wait for it
        else:
            os.kill(os.getpid(), signal.SIGKILL)


def from_environment() -> StepFault | None:
    """The step fault this process must fire, if any (read once, when the first value is logged)."""
    text = os.environ.get(FAULT_ENV)
    if not text:
        return None
    try:
        fault = Fault.parse(text)
    except ValueError:
        return None
    if fault.at_step is None or fault.kind not in (FaultKind.KILL_RANK, FaultKind.KILL_NODE, FaultKind.DELAY_RANK):
        return None
    mine = os.environ.get("NODE_RANK") if fault.kind is FaultKind.KILL_NODE else os.environ.get("RUNYARD_RANK")
    return StepFault(fault) if mine == str(fault.target) else None
