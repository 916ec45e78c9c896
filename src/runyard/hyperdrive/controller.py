"""The sweep controller: `python -m runyard.hyperdrive.controller PARENT_RUN_DIR`, one detached process
per HyperDrive run. It samples parameters, starts children (as ordinary runs with the same snapshot),
applies the early termination policy as the primary metric arrives, and ends the parent run."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Any

from runyard.errors import RunyardError
from runyard.hyperdrive.policy import decide
from runyard.hyperdrive.sampling import Sampler
from runyard.launch.liveness import reconcile, request_cancel
from runyard.layout import WorkspaceFolder
from runyard.run_folder import RunFolder
from runyard.spec import SweepSpec
from runyard.store.base import PARENT_RUN_PROPERTY
from runyard.status import RunStatus
from runyard.submission import SWEEP_FILE, record_and_launch

POLL_SECONDS = 0.5


def merge_arguments(base: list[str], params: dict[str, Any]) -> list[str]:
    """Sampled values are appended as `--name value`; they win over the same key in script_params."""
    args = list(base)
    for name, value in params.items():
        flag = name if name.startswith("-") else f"--{name}"
        while flag in args:
            i = args.index(flag)
            has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
            del args[i: i + (2 if has_value else 1)]
        args += [flag, str(value)]
    return args


class Controller:
    def __init__(self, workspace: WorkspaceFolder, folder: RunFolder, sweep: SweepSpec) -> None:
        from runyard.compute.registry import get_target

        self.ws, self.folder, self.sweep = workspace, folder, sweep
        self.compute = get_target(workspace, sweep.compute)
        self.sampler = Sampler(sweep.sampling, sweep.maximize, sweep.seed)
        self.children: list[tuple[int, str]] = []
        self.stopped: set[str] = set()
        self.reported: dict[str, int] = {}
        self.cancels: list[threading.Thread] = []
        self._cancel = False

    def request_cancel(self, *_: object) -> None:
        self._cancel = True

    def log(self, line: str) -> None:
        with open(self.folder.prepare_log, "a") as f:
            f.write(line + "\n")

    def _status(self, status: RunStatus, error: str | None = None) -> None:
        self.ws.store.set_status(self.folder.run_id, status, time.time(), error)

    def values(self, run_id: str) -> list[float]:
        found = self.ws.store.metric_values(run_id, [self.sweep.primary_metric_name], rank=0)
        return [v for v in (found[0].values if found else []) if isinstance(v, (int, float))
                and not (isinstance(v, float) and math.isnan(v))]

    def start_child(self, index: int, params: dict[str, Any]) -> None:
        spec = replace(self.sweep.template,
                       arguments=tuple(merge_arguments(list(self.sweep.base_arguments), params)))
        run_id = record_and_launch(self.ws, spec, self.compute, {}, {PARENT_RUN_PROPERTY: self.folder.run_id,
                                                                      "hyperparameters": json.dumps(params),
                                                                      "runyard.childIndex": str(index)})
        self.children.append((index, run_id))
        self.log(f"child {index} {run_id} started with {json.dumps(params)}")

    def cancel_child(self, run_id: str, why: str) -> None:
        self.stopped.add(run_id)
        self.ws.store.set_tags(run_id, {"runyard.earlyTermination": why})
        self.log(f"{run_id}: {why}")
        thread = threading.Thread(target=request_cancel, args=(self.ws.store, self.ws.run_folder(run_id)),
                                  daemon=True)
        thread.start()
        self.cancels.append(thread)

    def join_cancels(self, timeout: float = 60.0) -> None:
        """Before the controller exits: a cancel still in flight would die with it, leaving a child running."""
        deadline = time.monotonic() + timeout
        for thread in self.cancels:
            thread.join(max(0.0, deadline - time.monotonic()))

    def status_of(self, run_id: str) -> RunStatus:
        return reconcile(self.ws.store, self.ws.run_folder(run_id), self.ws.store.get_run(run_id).status)

    def run(self) -> RunStatus:
        self._status(RunStatus.RUNNING)
        deadline = time.monotonic() + self.sweep.max_duration_seconds
        exhausted = False
        finished: set[str] = set()
        while True:
            active = [(i, r) for i, r in self.children if r not in finished]
            for index, run_id in active:
                status = self.status_of(run_id)
                if status.is_terminal():
                    finished.add(run_id)
                    mine = self.values(run_id)
                    best = (max(mine) if self.sweep.maximize else min(mine)) if mine else None
                    self.sampler.report(index, best)
                    self.log_end(index, run_id, status, best)
            active = [(i, r) for i, r in self.children if r not in finished]
            if self._cancel or time.monotonic() > deadline:
                why = "the sweep was canceled" if self._cancel else "max_duration_minutes was reached"
                for _, run_id in active:
                    self.cancel_child(run_id, why)
                self.log(why)
                return RunStatus.CANCELED if self._cancel else RunStatus.COMPLETED
            self.apply_policy([r for _, r in active])
            while not exhausted and len(active) < self.sweep.max_concurrent_runs \
                    and len(self.children) < self.sweep.max_total_runs:
                params = self.sampler.next(len(self.children))
                if params is None:
                    exhausted = True
                    self.log("the parameter space is exhausted")
                    break
                self.start_child(len(self.children), params)
                active.append((len(self.children) - 1, self.children[-1][1]))
            if not active and (exhausted or len(self.children) >= self.sweep.max_total_runs):
                return self.outcome()
            time.sleep(POLL_SECONDS)

    def log_end(self, index: int, run_id: str, status: RunStatus, best: float | None) -> None:
        metric = self.sweep.primary_metric_name
        line = f"child {index} {run_id} ended {status.value}"
        line += f" ({metric}={best:g})" if best is not None else f" (no {metric} logged)"
        error = self.ws.store.get_run(run_id).error if status is RunStatus.FAILED else None
        if error:
            line += f": {error.strip().splitlines()[-1][:300]}"
        self.log(line)

    def outcome(self) -> RunStatus:
        """Completed when any trial completed; Failed, naming the trials' errors, when every one failed."""
        statuses = {run_id: self.status_of(run_id) for _, run_id in self.children}
        if not statuses or any(s is not RunStatus.FAILED for s in statuses.values()):
            return RunStatus.COMPLETED
        errors = [f"{run_id}: {(self.ws.store.get_run(run_id).error or 'failed').strip().splitlines()[-1][:300]}"
                  for run_id in statuses]
        raise SweepFailed(f"all {len(errors)} trials failed. " + "; ".join(errors[:5])
                          + (f"; and {len(errors) - 5} more" if len(errors) > 5 else ""))

    def apply_policy(self, active: list[str]) -> None:
        policy = self.sweep.policy
        if policy["kind"] == "none":
            return
        series = {r: self.values(r) for _, r in self.children}
        for run_id in active:
            mine = series[run_id]
            if run_id in self.stopped or not mine or self.reported.get(run_id) == len(mine):
                continue
            self.reported[run_id] = len(mine)
            others = [v for r, v in series.items() if r != run_id]
            decision = decide(policy, mine, others, self.sweep.maximize)
            if decision is not None and decision.stop:
                self.cancel_child(run_id, f"early termination: {decision.why}")


class SweepFailed(RunyardError):
    """Every trial failed: the sweep fails with their errors."""


def main(argv: list[str]) -> int:
    folder = RunFolder(argv[1])
    sweep = SweepSpec.from_json((folder.path / SWEEP_FILE).read_text())
    controller = Controller(WorkspaceFolder(folder.path.parent.parent), folder, sweep)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, controller.request_cancel)
    try:
        status = controller.run()
        error = None
    except SweepFailed as e:
        status, error = RunStatus.FAILED, str(e)
    except Exception as e:  # noqa: BLE001 - the parent run says why the sweep stopped
        status, error = RunStatus.FAILED, f"{type(e).__name__}: {e}"
    controller.join_cancels()
    controller._status(status, error)
    return 0 if status is RunStatus.COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
