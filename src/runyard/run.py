"""Run: the handle of one run, from the submitting process, another process, or inside the script.

One class over the workspace's backend (backends/): a folder on this machine or a `runyard server`. Inside a
submitted script `Run.get_context()` attaches through environment variables and logs through a spool file
(see tracking/spool.py); outside runyard it returns an offline run that prints (run_offline.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runyard.errors import InvalidTypeError, InvalidValueError, WorkspaceError
from runyard.run_offline import _OfflineRun
from runyard.status import RunStatus
from runyard.store.base import PARENT_RUN_PROPERTY
from runyard.tracking.logging_api import MetricLogging
from runyard.tracking.spool import SpoolWriter

if TYPE_CHECKING:
    from runyard.backends.base import RunBackend
    from runyard.experiment import Experiment
    from runyard.run_folder import RunFolder
    from runyard.store.base import RunRecord
    from runyard.workspace import Workspace

ENV_RUN_ID = "RUNYARD_RUN_ID"
ENV_RUN_DIR = "RUNYARD_RUN_DIR"
ENV_RANK = "RUNYARD_RANK"
_context: Run | _OfflineRun | None = None


def _process_rank() -> int:
    """The rank this process logs as. RANK first: a launcher inside the job's command (torchrun,
    torch.distributed.launch) sets it per process, while runyard's own variable names the process runyard
    started; then Open MPI's, then runyard's."""
    for name in ("RANK", "OMPI_COMM_WORLD_RANK", ENV_RANK):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _typed_class(properties: dict[str, str]) -> type[Run]:
    """The service's class for a run: HyperDriveRun for a sweep, Run otherwise."""
    if properties.get("runyard.runType") == "hyperdrive":
        from runyard.train.hyperdrive.run import HyperDriveRun

        return HyperDriveRun
    return Run


class Run(MetricLogging):
    """`Run(experiment, run_id)` or `Run.get(ws, run_id)`; in a script, `Run.get_context()`.

    An interactive run (`exp.start_logging()`, `run.child_run()`) is a context manager, as in the service:
    `with exp.start_logging() as run:` ends Completed, or Failed with the exception that left the block."""

    _outputs_dir: Path | None = None  # an interactive run's ./outputs, uploaded at complete()

    def __new__(cls, experiment: Experiment | None = None, run_id: str | None = None,
                _writer: SpoolWriter | None = None, **_: Any) -> Run:
        """`Run(experiment, id)` of a sweep is a HyperDriveRun, as every other way of getting it."""
        if cls is Run and _writer is None and experiment is not None and run_id is not None:
            backend = experiment.workspace.backend
            record = backend.record(backend.resolve_run_id(run_id))
            return super().__new__(_typed_class(record.properties))
        return super().__new__(cls)

    def __init__(self, experiment: Experiment, run_id: str, _writer: SpoolWriter | None = None,
                 **_: Any) -> None:
        self.experiment = experiment
        self._writer = _writer
        # in a script (a writer given) the id is the run's own, and logging needs no backend at all
        self._id = self._backend.resolve_run_id(run_id) if _writer is None else run_id

    @property
    def _backend(self) -> RunBackend:
        return self.experiment.workspace.backend  # type: ignore[no-any-return]

    # -- finding runs ---------------------------------------------------------------------------
    @classmethod
    def get(cls, workspace: Workspace, run_id: str) -> Run:
        from runyard.experiment import Experiment

        backend = workspace.backend
        record = backend.record(backend.resolve_run_id(run_id))
        typed = _typed_class(record.properties) if cls is Run else cls
        run: Run = object.__new__(typed)
        run.__init__(Experiment(workspace, record.experiment), record.run_id)  # type: ignore[misc]
        return run

    @classmethod
    def _from_record(cls, experiment: Experiment, run_id: str, properties: dict[str, str]) -> Run:
        """A run whose record was just read (a listing): typed without reading it again."""
        run: Run = object.__new__(_typed_class(properties))
        run.__init__(experiment, run_id)  # type: ignore[misc]
        return run

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False,
                    **_: Any) -> Any:
        global _context
        if _context is not None:
            return _context
        run_id, run_dir = os.environ.get(ENV_RUN_ID), os.environ.get(ENV_RUN_DIR)
        if not run_id or not run_dir:
            if not allow_offline:
                raise InvalidValueError("allow_offline", False, "this script is not running inside a runyard run",
                                        "submit it with exp.submit(...) or `runyard submit`, or allow_offline=True")
            _context = _OfflineRun()
            return _context
        from runyard.experiment import Experiment
        from runyard.run_folder import RunFolder
        from runyard.workspace import UnreachableWorkspace, Workspace

        folder = RunFolder(run_dir)
        workspace_path = os.environ.get("RUNYARD_WORKSPACE") or folder.path.parent.parent
        try:
            workspace = Workspace(workspace_path, create=False)
        except WorkspaceError:
            workspace = UnreachableWorkspace(workspace_path)
        experiment = Experiment(workspace, os.environ.get("RUNYARD_EXPERIMENT", "default"), _check=False)
        writer = SpoolWriter(folder.spool_dir, _process_rank())
        _context = cls(experiment, run_id, _writer=writer)
        return _context

    # -- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    def _record(self) -> RunRecord:
        return self._backend.record(self._id)

    @property
    def number(self) -> int:
        return self._record().number

    @property
    def display_name(self) -> str:
        return self._record().display_name or self._id

    name = display_name

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    @property
    def tags(self) -> dict[str, str | None]:
        return self.get_tags()

    @property
    def parent(self) -> Run | None:
        """The run this one was started under (a sweep, child_run, submit_child), else None."""
        parent_id = self._record().properties.get(PARENT_RUN_PROPERTY)
        return Run.get(self.experiment.workspace, parent_id) if parent_id else None

    @property
    def folder(self) -> RunFolder:
        """The run's folder on this machine (a workspace folder only; a server keeps its own)."""
        return self._backend.run_folder(self._id)

    def __repr__(self) -> str:
        return f"Run(experiment={self.experiment.name!r}, id={self._id!r})"

    @property
    def input_datasets(self) -> dict[str, Any]:
        """In the script: {input name: local path} of the datasets and data references it consumes (a
        TabularDataset over the local copy for a tabular dataset), as the service's run.input_datasets."""
        from runyard.data.dataset import local_dataset

        found: dict[str, Any] = {}
        for key, value in os.environ.items():
            if key.startswith("AZUREML_DATAREFERENCE_"):
                name = key.removeprefix("AZUREML_DATAREFERENCE_")
                definition = os.environ.get(f"RUNYARD_DATASET_{name}")
                found[name] = local_dataset(value, definition) if definition else value
        return found

    def get_portal_url(self) -> str:
        """This run's page in the web UI (`runyard ui`'s default address, or the server's)."""
        return self._backend.portal_url(self._id)

    # -- status ---------------------------------------------------------------------------------
    def get_status(self) -> str:
        return self._status().value

    def _status(self) -> RunStatus:
        return self._backend.status(self._id)

    def get_details(self) -> dict[str, Any]:
        return self._backend.details(self._id)

    def get_details_with_logs(self) -> dict[str, Any]:
        details = self.get_details()
        details["logFiles"] = {n: self._backend.read_file(self._id, n).decode(errors="replace")
                               for n in details["logFiles"]}
        return details

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True, poll_interval: float | None = None,
                            all_ranks: bool = False, out: IO[str] | None = None) -> dict[str, Any]:
        from runyard.run_output import wait_and_stream

        return wait_and_stream(self, show_output=show_output, raise_on_error=raise_on_error,
                               poll_interval=poll_interval or self._backend.poll_interval, all_ranks=all_ranks,
                               out=out)

    def cancel(self, timeout: float = 30.0) -> None:
        self._backend.cancel(self._id)

    def set_priority(self, priority: int) -> None:
        """runyard's: move a Queued run in its box's queue (higher starts first); the queue decides again now."""
        self._backend.set_priority(self._id, priority)

    def complete(self, _set_status: bool = True) -> None:
        self._finish(RunStatus.COMPLETED, None)

    def fail(self, error_details: Any = None, error_code: Any = None, _set_status: bool = True) -> None:
        self._finish(RunStatus.FAILED, str(error_details) if error_details is not None else "marked failed")

    def _finish(self, status: RunStatus, error: str | None) -> None:
        if self._outputs_dir is not None and self._outputs_dir.is_dir():
            self.upload_folder("outputs", self._outputs_dir)  # the service's output collection
        self._catch_up()  # what this handle logged is stored before the run ends
        self._backend.set_status(self._id, status, error)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._status().is_terminal():
            return  # completed, failed or canceled inside the block: that stands
        if exc is None:
            self.complete()
        else:
            self.fail(error_details=f"{exc_type.__name__}: {exc}" if exc_type else str(exc))

    # -- logging --------------------------------------------------------------------------------
    def _sink(self) -> SpoolWriter:
        if self._writer is None:  # a handle outside the script: its own spool, stored or shipped
            self._writer = self._backend.sink(self._id)
        return self._writer

    def _store_file(self, name: str, data: bytes) -> None:
        with tempfile.NamedTemporaryFile(prefix="runyard-upload-") as f:
            f.write(data)
            f.flush()
            self._backend.put_file(self._id, name, Path(f.name))

    def flush(self, timeout_seconds: float = 300) -> None:
        """Everything logged so far is safe when this returns: on disk beside a local run, stored by the
        server for a run of a remote workspace (a RunyardError after `timeout_seconds` names what is left)."""
        if self._writer is not None:
            self._backend.deliver(self._id, self._writer, float(timeout_seconds))

    def _catch_up(self) -> None:
        """What this handle (and every spool of the run) logged is stored, so a read sees it."""
        self._backend.flush(self._id, self._writer)

    def remove_tags(self, tags: list[str] | str) -> None:
        self._backend.remove_tags(self._id, [tags] if isinstance(tags, str) else list(tags))

    def get_tags(self) -> dict[str, str | None]:
        self._catch_up()
        return self._backend.tags(self._id)

    def add_properties(self, properties: dict[str, Any]) -> None:
        if not isinstance(properties, dict):
            raise InvalidTypeError("properties", properties, "must be a dict", "pass {'key': 'value'}")
        self._catch_up()
        self._backend.add_properties(self._id, {str(k): str(v) for k, v in properties.items()})

    def get_properties(self) -> dict[str, str]:
        self._catch_up()
        return self._record().properties

    # -- reading metrics --------------------------------------------------------------------------
    def get_system_metrics(self, name: str | None = None) -> dict[str, Any]:
        """runyard's: what the hardware did, as 10-second aggregates per node (and per GPU and rank in the key):
        {'system/cpu_utilization_percentage': {'node 0': {'time': [...], 'mean': [...], 'min': [...],
        'max': [...]}}}. Kept apart from get_metrics(), which holds only what the script logged."""
        return self._backend.system_metrics(self._id, name)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False, all_ranks: bool = False, rank: int | None = None) -> dict[str, Any]:
        """Each key shows rank 0's values (or the lowest rank that logged it); `rank=` picks a rank,
        `all_ranks=True` merges every rank's points; `recursive=True` gives {run id: metrics} for this
        run and the runs below it."""
        own = self.logged_metrics(name, all_ranks=all_ranks, rank=rank)
        if not recursive:
            return own
        nested = {self._id: own}
        for child in self.get_children(recursive=True):
            nested[child.id] = child.get_metrics(name, all_ranks=all_ranks, rank=rank)
        return nested

    def logged_metrics(self, name: str | None = None, all_ranks: bool = False,
                       rank: int | None = None) -> dict[str, Any]:
        """What this run itself logged (a sweep's get_metrics() gathers its children's instead)."""
        self._catch_up()
        return self._backend.metrics(self._id, name, rank, all_ranks)

    def get_metric_series(self, name: str, rank: int = 0, max_points: int | None = 2000,
                          step_range: tuple[float, float] | None = None) -> Any:
        """A numeric metric as a chart series (runyard's own): steps, values, times, downsampled
        to at most max_points keeping every bucket's min and max."""
        self._catch_up()
        return self._backend.series(self._id, name, rank, max_points, step_range)

    # -- files ----------------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return self._backend.file_names(self._id)

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None,
                      _validate_checksum: bool = False) -> None:
        if name not in self.get_file_names():
            raise InvalidValueError("name", name, f"is not a file of run {self._id}",
                                    "pick one of run.get_file_names()")
        target = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._backend.read_file(self._id, name))

    def download_files(self, prefix: str | None = None, output_directory: str | os.PathLike[str] | None = None,
                       output_paths: list[str] | None = None, batch_size: int = 100,
                       append_prefix: bool = True) -> None:
        out = Path(output_directory or ".")
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            rel = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self._backend.read_file(self._id, name))

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(path_or_stream, (str, os.PathLike)):
            if not Path(path_or_stream).is_file():
                raise InvalidValueError("path_or_stream", str(path_or_stream), "is not an existing file",
                                        "pass the path of a file to upload")
            self._backend.put_file(self._id, name, Path(path_or_stream))
        else:
            self._store_file(name, path_or_stream.read())

    def upload_files(self, names: list[str], paths: list[str]) -> None:
        for n, p in zip(names, paths, strict=True):
            self.upload_file(n, p)

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> None:
        for p in sorted(Path(path).rglob("*")):
            if p.is_file():
                self.upload_file(f"{name.rstrip('/')}/{p.relative_to(path).as_posix()}", p)

    def register_model(self, model_name: str, model_path: str | None = None, tags: dict[str, Any] | None = None,
                       properties: dict[str, Any] | None = None, description: str | None = None,
                       **_: Any) -> Any:
        """Register a file or folder of this run (e.g. 'outputs/model.pt') as a new model version."""
        from runyard.models.registry import Model

        source = self.folder.path_of(model_path or "outputs")
        if source is None:
            raise InvalidValueError("model_path", model_path, f"is not a file or folder of run {self._id}",
                                    "pick a path from run.get_file_names(), e.g. 'outputs/model.pt'")
        return Model.register(self.experiment.workspace, source, model_name, tags=tags,
                              properties={**(properties or {}), "runId": self._id}, description=description,
                              _run_id=self._id)

    # -- children -------------------------------------------------------------------------------
    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: Any = None, status: Any = None) -> list[Run]:
        children = [Run.get(self.experiment.workspace, c) for c in self._backend.children(self._id)]
        if recursive:
            children += [grandchild for child in children for grandchild in child.get_children(recursive=True)]
        return [c for c in children if status is None or c.get_status() == status]

    def children_summary(self) -> list[dict[str, Any]]:
        """One row per child for the CLI and the UI: runId, status, hyperparameters, bestPrimaryMetric."""
        return self._backend.children_summary(self._id)

    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> Run:
        """An interactive child of this run: it logs on its own until child.complete() (or the end of
        `with run.child_run() as child:`)."""
        return self.experiment._start_interactive(display_name=name, parent_id=self._id, outputs=outputs)

    def create_children(self, count: int | None = None, tag_key: str | None = None,
                        tag_values: list[str] | None = None) -> list[Run]:
        """`count` interactive children at once (or one per tag value, tagged tag_key=value)."""
        if tag_key is not None or tag_values is not None:
            if not isinstance(tag_key, str) or not tag_key or not isinstance(tag_values, (list, tuple)):
                raise InvalidValueError("tag_key/tag_values", (tag_key, tag_values), "must be given together",
                                        "pass tag_key='fold', tag_values=['1', '2'] (or count=N alone)")
            count = len(tag_values) if count is None else count
            if count != len(tag_values):
                raise InvalidValueError("count", count, f"differs from len(tag_values)={len(tag_values)}",
                                        "leave count out when passing tag_values")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise InvalidValueError("count", count, "must be an integer from 1 to 1000", "pass count=5")
        children = [self.child_run() for _ in range(count)]
        for child, value in zip(children, tag_values or []):
            child.tag(tag_key or "", value)
        return children

    def rerun(self, allow_changes: bool = False) -> Run:
        """A new run of this run's experiment from what it recorded (snapshot, command, layout, environment,
        data references), linked to it. Refused with a ReproducibilityError naming each difference when the
        data or environment it would get is not what this run had, unless `allow_changes`."""
        return Run(self.experiment, self._backend.rerun(self._id, allow_changes))

    def get_checkpoint_dir(self) -> Path:
        """Where this run keeps checkpoints: one folder for every attempt of the run (with max_restarts, a
        restarted attempt finds the last one there; $RUNYARD_CHECKPOINT_DIR in the script)."""
        import os

        given = os.environ.get("RUNYARD_CHECKPOINT_DIR")
        if given and os.environ.get("RUNYARD_RUN_ID") == self._id:
            return Path(given)
        folder = self._backend.run_folder(self._id).path / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def set_seed(self, seed: int) -> int:
        """Seed Python's, NumPy's and torch's generators (those imported) and record the seed on the run, so
        a rerun is the same computation. Returns the seed."""
        import random
        import sys

        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise InvalidValueError("seed", seed, "is not an integer from 0 to 2**32-1", "pass e.g. run.set_seed(0)")
        random.seed(seed)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(seed)
        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(seed)
        import os

        if os.environ.get("RANK", "0") == "0":  # ranks may seed differently (seed + rank): rank 0's is the run's
            self.add_properties({"runyard.seed": str(seed)})
        return seed

    def submit_child(self, config: Any, tags: dict[str, Any] | None = None, **_: Any) -> Run:
        """Submit `config` (an Estimator or ScriptRunConfig) as a run of this run's experiment, under it."""
        from runyard.submission import SweepConfig

        if isinstance(config, SweepConfig):
            raise InvalidTypeError("config", config, "is a sweep, which cannot be a child run here",
                                   "submit the HyperDriveConfig with experiment.submit(...)")
        run_id = self._backend.submit(self.experiment.name, config, tags, {PARENT_RUN_PROPERTY: self._id})
        return Run._from_record(self.experiment, run_id, {})  # a child here is never a sweep (refused above)

    # -- snapshots ------------------------------------------------------------------------------
    def get_snapshot_id(self) -> str:
        return self._record().snapshot_digest

    def restore_snapshot(self, snapshot_id: str | None = None, path: str | os.PathLike[str] | None = None) -> str:
        """The run's snapshot (the source folder as submitted) as `<path>/<snapshot id>.zip`; its path."""
        digest = snapshot_id or self.get_snapshot_id()
        if not digest:
            raise InvalidValueError("snapshot_id", snapshot_id, f"run {self._id} has no snapshot",
                                    "runs started with start_logging() have one only with snapshot_directory=")
        return str(self._backend.restore_snapshot(digest, Path(path or ".")))


__all__ = ["ENV_RANK", "ENV_RUN_DIR", "ENV_RUN_ID", "Run", "_OfflineRun"]
