"""wait_for_completion: follow a run's logs live, then print its execution summary."""

from __future__ import annotations

import re
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from runyard.errors import ActivityFailedException, RunyardError
from runyard.status import RunStatus

if TYPE_CHECKING:
    from runyard.run import Run

_RANK_LOG = re.compile(r"std_log_rank_(\d+)(?:_attempt_(\d+))?\.txt$")
PREPARE_LOG = "system_logs/prepare.txt"


class LogFollower:
    """Prints the new complete lines of a run's logs: the preparation log, then rank 0 (or every rank,
    each line prefixed by its rank). It reads through the run's backend, so it follows a run of a
    workspace folder or of a server alike."""

    def __init__(self, run: Run, all_ranks: bool = False) -> None:
        self.run, self.all_ranks = run, all_ranks
        self._offsets: dict[str, int] = {}

    def _files(self) -> list[tuple[str, str]]:
        names = self.run._backend.log_names(self.run.id)
        files = [("", PREPARE_LOG)] if PREPARE_LOG in names else []
        ranks = [n for n in names if _RANK_LOG.search(n) and n.startswith("user_logs/")]
        for name in sorted(ranks, key=_rank_order):
            m = _RANK_LOG.search(name)
            if m and (self.all_ranks or m.group(1) == "0"):
                files.append((f"[rank {m.group(1)}] " if self.all_ranks else "", name))
        return files

    def pump(self, out: IO[str], final: bool = False) -> None:
        backend = self.run._backend
        for prefix, name in self._files():
            start = self._offsets.get(name, 0)
            try:
                data = backend.read_file(self.run.id, name, start)
            except RunyardError:
                continue
            if not final:
                cut = data.rfind(b"\n") + 1
                data = data[:cut]
            if not data:
                continue
            self._offsets[name] = start + len(data)
            text = data.decode("utf-8", errors="replace")
            if prefix:
                text = "".join(prefix + line for line in text.splitlines(keepends=True))
            out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


def _rank_order(name: str) -> tuple[int, int]:
    m = _RANK_LOG.search(name)
    return (int(m.group(2) or 0), int(m.group(1))) if m else (1 << 30, 0)


def _duration(run: Run) -> str:
    record = run._record()
    if record.start_time and record.end_time:
        return f"{record.end_time - record.start_time:.1f} s running, {record.end_time - record.created_time:.1f} s " \
               "since submit"
    return "-"


def _last_values(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, list) and value and not isinstance(value[-1], (list, dict)):
            value = value[-1]
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "(none)"


def print_summary(run: Run, details: dict[str, Any], out: IO[str]) -> None:
    outputs = [n for n in run.get_file_names() if n.startswith("outputs/")]
    lines = [
        "", "Execution Summary", "=================",
        f"RunId: {run.id}",
        f"Status: {details['status']}",
        f"Duration: {_duration(run)}",
        f"Metrics (last values): {_last_values(run.logged_metrics())}",
        f"Output files: {', '.join(outputs) if outputs else '(none)'}",
        f"Run folder: {details.get('runFolder') or run._backend.location}",
        f"Open it: runyard show {run.id}   runyard logs {run.id}   runyard metrics {run.id}",
    ]
    ranked = getattr(run, "get_children_sorted_by_primary_metric", None)  # a sweep: name its best run
    if ranked is not None and (top := ranked(top=1, discard_no_metric=True)):
        lines.insert(7, f"Best run: {top[0]['run_id']} (best primary metric {top[0]['best_primary_metric']:.4g}, "
                        f"hyperparameters {top[0]['hyperparameters']})")
    if details.get("error"):
        said = details["error"]["error"]["message"].splitlines()
        fixes = [ln for ln in said[1:] if ln.startswith("Fix: ")]  # a fix the traceback led to, under the error
        lines[5:5] = [f"Error: {said[0]}", *fixes]
    out.write("\n".join(lines) + "\n\n")
    out.flush()


def wait_and_stream(run: Run, show_output: bool, raise_on_error: bool, poll_interval: float = 0.1,
                    all_ranks: bool = False, out: IO[str] | None = None) -> dict[str, Any]:
    out = out or sys.stdout
    follower = LogFollower(run, all_ranks) if show_output else None
    if follower:
        where = run.get_details().get("runFolder") or run._backend.location
        out.write(f"RunId: {run.id}\nRun folder: {where}\n\nStreaming the run's output:\n")
    while True:
        status = run._status()
        if follower:
            follower.pump(out)
        if status.is_terminal():
            break
        time.sleep(poll_interval)
    details = run.get_details()
    if follower:
        follower.pump(out, final=True)
        print_summary(run, details, out)
    if status is RunStatus.FAILED and raise_on_error:
        message = details.get("error", {}).get("error", {}).get("message", "unknown error")
        raise ActivityFailedException(f"run {run.id} failed: {message}", run_id=run.id, error_details=message)
    return details
