"""TensorBoard event files from what a run logs: with RUNYARD_TENSORBOARD=1 (a job environment variable, or the
submitting process's), every numeric scalar stored for the run is also written to
`logs/tensorboard/rank_<r>/events.out.tfevents.*` in its working folder, so `runyard tensorboard RUN` (or any
TensorBoard) shows every run, not only runs whose script wrote events itself.

Events are written as they are stored (once each: the ingest's exactly-once offsets decide), by the
supervisor's ingest thread; TensorBoard's writer is imported only when a run asks for it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from runyard.store.base import MetricKind, SpoolEvent

ENV = "RUNYARD_TENSORBOARD"


def wanted(variables: dict[str, str]) -> bool:
    return variables.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


class TensorBoardMirror:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writers: dict[int, Any] = {}
        self._index: dict[tuple[int, str], int] = defaultdict(int)  # x of points logged without step=

    def write(self, events: list[SpoolEvent]) -> None:
        numeric = [e for e in events if e.kind == MetricKind.SCALAR.value and type(e.value) in (int, float)]
        # system metrics: each node's 10-second means, in a folder of their own (system_node_<n>)
        system = [e for e in events if e.kind == "system"]
        if not numeric and not system:
            return
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        for e in numeric:
            writer = self._writers.get(e.rank)
            if writer is None:
                writer = self._writers[e.rank] = EventFileWriter(str(self.folder / f"rank_{e.rank}"))
            step = e.step if e.step is not None else self._index[(e.rank, e.key)]
            self._index[(e.rank, e.key)] += 1
            value = Summary.Value(tag=e.key, simple_value=float(e.value))
            writer.add_event(Event(wall_time=e.time, step=step, summary=Summary(value=[value])))
        for e in system:
            writer = self._writers.get(-1 - e.rank)
            if writer is None:
                writer = self._writers[-1 - e.rank] = EventFileWriter(str(self.folder / f"system_node_{e.rank}"))
            step = self._index[(-1 - e.rank, e.key)]
            self._index[(-1 - e.rank, e.key)] += 1
            value = Summary.Value(tag=e.key, simple_value=float(e.value[0]))
            writer.add_event(Event(wall_time=e.time, step=step, summary=Summary(value=[value])))
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
