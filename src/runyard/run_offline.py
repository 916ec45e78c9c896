"""What Run.get_context() returns outside runyard: a run handle that prints what the script logs and stores
nothing. It implements the logging interface (and the reads a script makes of its own run) without being a
stored run, so the same training script runs with and without runyard."""

from __future__ import annotations

import uuid
from typing import Any

from runyard.status import RunStatus
from runyard.tracking import values as check
from runyard.tracking.logging_api import MetricLogging
from runyard.tracking.spool import SpoolWriter


class _OfflineRun(MetricLogging):
    experiment = None
    _writer: SpoolWriter | None = None

    def __init__(self) -> None:
        self.id = f"OfflineRun_{uuid.uuid4()}"
        self._id = self.id

    def _print(self, what: str, name: str, value: Any) -> None:
        print(f"Attempted to log {what} metric {name}:\n{value}")  # the service's words, on the script's output

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        self._print("scalar", check.check_name(name), check.check_scalar(name, value))

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        self._print("list", check.check_name(name), check.check_list(name, value))

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._print("row", name, kwargs)

    def log_table(self, name: str, value: dict[str, Any], description: str = "") -> None:
        self._print("table", name, value)

    def log_image(self, name: str, path: Any = None, plot: Any = None, description: str = "") -> None:
        self._print("image", name, path or plot)

    def set_tags(self, tags: dict[str, Any]) -> None:
        print(f"Attempted to set tags {tags}")

    def add_properties(self, properties: dict[str, Any]) -> None:
        print(f"Attempted to add properties {properties}")

    def flush(self, timeout_seconds: float = 300) -> None:
        pass

    def get_tags(self) -> dict[str, str | None]:
        return {}

    def get_properties(self) -> dict[str, str]:
        return {}

    def get_metrics(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def get_status(self) -> str:
        return RunStatus.RUNNING.value

    @property
    def parent(self) -> None:
        return None

    @property
    def input_datasets(self) -> dict[str, Any]:
        return {}

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        print(f"Attempted to upload file {name}")

    def upload_folder(self, name: str, path: Any) -> None:
        print(f"Attempted to upload folder {name}")

    def complete(self, _set_status: bool = True) -> None:
        pass

    def fail(self, error_details: Any = None, error_code: Any = None, _set_status: bool = True) -> None:
        pass

    def __enter__(self) -> _OfflineRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"_OfflineRun(id={self.id!r})"
