"""The logging half of a run handle (log, log_list, log_row, log_table, tags), shared by a local run and a
run of a remote workspace. Values are checked here and appended to a spool (`_sink()`); where the spool
goes (the run folder, or a server) is the handle's business."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.store.base import MetricKind
from runyard.tracking import values as check
from runyard.tracking.spool import SpoolWriter


_UNSET: Any = object()


class MetricLogging:
    _writer: SpoolWriter | None
    _step_fault: Any = _UNSET  # a fault this rank fires itself at a step (`--inject kill-rank:1@step=50`)

    def _sink(self) -> SpoolWriter:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def _store_file(self, name: str, data: bytes) -> None:
        """Keep `data` as the run's file `name` (the run folder here, or the server's)."""
        raise NotImplementedError

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None,
                  description: str = "") -> None:
        check.check_name(name)
        if (path is None) == (plot is None):
            raise InvalidValueError(f"log_image({name!r})", (path, plot), "needs exactly one of path and plot",
                                    "pass path='chart.png' or plot=<matplotlib figure or pyplot>")
        if path is not None and not Path(path).is_file():
            raise InvalidValueError(f"log_image({name!r}) path", str(path), "is not an existing file",
                                    "save the image first, or pass plot=")
        if path is not None:
            data = Path(path).read_bytes()
        else:
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            data = buffer.getvalue()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:64]
        file_name = f"outputs/images/{safe}_{uuid.uuid4().hex[:8]}.png"
        self._store_file(file_name, data)
        self._sink().append(MetricKind.IMAGE.value, name, file_name, None, description)

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        if type(name) is not str or not name:
            check.check_name(name)
        value = check.check_scalar(name, value)
        if step is not None and (type(step) is not int or step < 0 or step > check.MAX_STEP):
            check.check_step(step)
        (self._writer or self._sink()).append("scalar", name, value, step, description)
        if step is not None and self._step_fault is not None:
            self._check_fault(step)

    def _check_fault(self, step: int) -> None:
        if self._step_fault is _UNSET:
            from runyard.tracking.fault_trigger import from_environment

            MetricLogging._step_fault = from_environment()
        fault = self._step_fault
        if fault is not None and fault.armed and step >= fault.at_step:
            fault.fire(step, self._writer)

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._sink().append(MetricKind.LIST.value, check.check_name(name), check.check_list(name, value), None,
                            description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        if not kwargs:
            raise InvalidValueError(f"log_row({name!r})", kwargs, "has no columns", "pass columns: log_row(name, x=1)")
        self._sink().append(MetricKind.ROW.value, check.check_name(name), kwargs, None, description or "")

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        self._sink().append(MetricKind.TABLE.value, check.check_name(name), check.check_table(name, value), None,
                            description)

    def tag(self, key: str, value: Any = None) -> None:
        """`run.tag('worth a look')` stores the tag with an empty value, as the service did."""
        self.set_tags({key: "" if value is None else value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        if not isinstance(tags, dict):
            raise InvalidTypeError("tags", tags, "must be a dict", "pass {'key': 'value'}")
        for k, v in tags.items():
            self._sink().append("tag", check.check_name(k), None if v is None else str(v))
        self.flush()

