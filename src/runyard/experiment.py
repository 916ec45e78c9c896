"""Experiment: a named group of runs, and where runs are submitted."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError
from runyard.store.base import PARENT_RUN_PROPERTY
from runyard.train.job import check_source_folder

if TYPE_CHECKING:
    from runyard.run import Run
    from runyard.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class Experiment:
    def __init__(self, workspace: Workspace, name: str, _check: bool = True, **_: Any) -> None:
        if _check and (not isinstance(name, str) or not _NAME.match(name)):
            raise InvalidValueError("name", name, "is not a valid experiment name",
                                    "use 1-255 letters, digits, '_' or '-', starting with a letter or digit")
        self.workspace = workspace
        self.name = name

    @property
    def id(self) -> str:
        return self.name

    def submit(self, config: Any, tags: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        """Validate, snapshot, record (Queued) and launch. Nothing is written unless all checks pass."""
        from runyard.run import Run

        run_id = self.workspace.backend.submit(self.name, config, tags)
        return Run.get(self.workspace, run_id)  # a sweep comes back as its HyperDriveRun

    def start_logging(self, *args: Any, outputs: str | None = None, snapshot_directory: str | None = None,
                      display_name: str | None = None, **_: Any) -> Run:
        """An interactive run (a notebook, a script run by hand): Running until run.complete(), or use it as
        `with exp.start_logging() as run:`. As the service did, `outputs` (default ./outputs) is created
        and uploaded as the run's outputs/ at complete(); `snapshot_directory` is snapshotted now."""
        return self._start_interactive(display_name, outputs=outputs if outputs is not None else "outputs",
                                       snapshot_directory=snapshot_directory)

    def _start_interactive(self, display_name: str | None = None, parent_id: str | None = None,
                           outputs: str | os.PathLike[str] | None = None,
                           snapshot_directory: str | os.PathLike[str] | None = None) -> Run:
        from runyard.run import Run

        outputs_dir = Path(outputs) if outputs is not None else None  # a child tracks outputs only when asked
        source = check_source_folder(snapshot_directory) if snapshot_directory is not None else None
        run_id = self.workspace.backend.start_interactive(self.name, display_name, parent_id, source)
        if outputs_dir is not None:
            outputs_dir.mkdir(parents=True, exist_ok=True)
        run = Run._from_record(self, run_id, {})  # an interactive run is never a sweep: no record to read
        run._outputs_dir = outputs_dir.resolve() if outputs_dir is not None else None
        return run

    def get_runs(self, type: str | None = None, tags: Any = None, properties: Any = None,
                 include_children: bool = False, filter_string: str | None = None) -> Iterator[Run]:
        """The experiment's runs, newest first. `filter_string` (runyard's addition, as MLflow's search_runs)
        is searched in the store: "metrics.val_acc > 0.9 and params.lr = '0.01' and owner = 'alice'"."""
        from runyard.run import Run

        for record in self.workspace.backend.list_runs(experiment=self.name, filter_string=filter_string):
            if PARENT_RUN_PROPERTY in record.properties and not include_children:
                continue  # as the service: child runs (sweeps, submit_child) only when asked for
            if properties is not None and not all(record.properties.get(str(k)) == str(v)
                                                  for k, v in dict(properties).items()):
                continue
            run = Run._from_record(self, record.run_id, record.properties)
            if tags is not None:
                have = run.get_tags()
                wanted = {tags: None} if isinstance(tags, str) else dict(tags)
                if not all(k in have and (v is None or have[k] == v) for k, v in wanted.items()):
                    continue
            yield run

    @staticmethod
    def list(workspace: Workspace, experiment_name: str | None = None, **_: Any) -> list[Experiment]:
        names = workspace.backend.list_experiments()
        return [Experiment(workspace, n) for n in names if experiment_name in (None, n)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"
