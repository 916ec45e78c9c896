"""The one way a run is created: prepare (a run configuration -> a validated, frozen JobSpec and the
snapshot of its source folder, limits applied), then record and launch (run folder, run row, tags,
properties, the process to start). Estimators, ScriptRunConfig, HyperDriveConfig, child runs, the server's
POST /runs and the sweep controller's trials all come through here.

A run configuration is anything that implements `JobConfig`; a sweep implements `SweepConfig`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runyard import snapshot
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.layout import WorkspaceFolder
from runyard.spec import JobSpec, SweepSpec
from runyard.status import RunStatus
from runyard.store.base import PARENT_RUN_PROPERTY, RunRecord

if TYPE_CHECKING:
    from runyard.compute.base import ComputeTarget

# lowercase letters and digits without the confusable ones (0/o, 1/l/i)
_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
SWEEP_FILE = "sweep.json"
SWEEP_RUN_TYPE = "hyperdrive"


@runtime_checkable
class JobConfig(Protocol):
    """What a run configuration gives submission: its JobSpec (validated, snapshot digest empty), the source
    folder to snapshot, and the compute target it names (a name, a ComputeTarget, or None for local)."""

    def job_spec(self, experiment: str, compute_name: str = "local") -> JobSpec: ...

    def job_source(self) -> Path: ...

    def job_compute(self) -> Any: ...


@runtime_checkable
class SweepConfig(Protocol):
    """A sweep: the trials' configuration and the sweep's own settings."""

    def trial_config(self) -> JobConfig: ...

    def sweep_settings(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PreparedJob:
    """A validated job: its spec (snapshot digest still empty), where its source is, where it runs."""

    source_directory: Path
    spec: JobSpec
    compute: ComputeTarget


def new_run_id(experiment: str) -> str:
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return f"{experiment}_{int(time.time())}_{suffix}"


def resolve_compute(folder: WorkspaceFolder, compute_target: Any) -> ComputeTarget:
    from runyard.compute.base import ComputeTarget
    from runyard.compute.registry import get_target

    if compute_target is None:
        return get_target(folder, "local")
    if isinstance(compute_target, ComputeTarget):
        return compute_target
    if isinstance(compute_target, str):
        return get_target(folder, compute_target)
    raise InvalidTypeError("compute_target", compute_target, "must be a compute target name or object",
                           "pass 'local', or ComputeTarget(workspace=ws, name=...)")


def prepare(folder: WorkspaceFolder, config: JobConfig, experiment: str) -> PreparedJob:
    if not isinstance(config, JobConfig):
        raise InvalidTypeError("config", config, "cannot be submitted",
                               "pass a PyTorch/Estimator, a ScriptRunConfig or a HyperDriveConfig")
    compute = resolve_compute(folder, config.job_compute())
    spec = config.job_spec(experiment, compute.name)
    compute.check(spec)
    return PreparedJob(config.job_source(), spec, compute)


def check_entry_in_snapshot(spec: JobSpec, snapshot_paths: set[str]) -> None:
    """An ignore file may exclude the entry script: refuse before anything is stored."""
    if spec.entry_script and spec.entry_script not in snapshot_paths:
        raise InvalidValueError("entry_script", spec.entry_script, "is excluded from the snapshot by an ignore file",
                                "remove its pattern from .runyardignore / .amlignore / .gitignore")


def take_snapshot(folder: WorkspaceFolder, prepared: PreparedJob) -> JobSpec:
    """Hash the source folder (within the workspace's limits) and store its new files: the spec, ready."""
    manifest, sources = snapshot.scan(prepared.source_directory, folder.snapshot_limits)
    check_entry_in_snapshot(prepared.spec, {f.path for f in manifest.files})
    # -- from here on, things are written --
    snapshot.store(manifest, sources, folder.blobs)
    return replace(prepared.spec, snapshot_digest=manifest.digest)


def record_and_launch(folder: WorkspaceFolder, spec: JobSpec, compute: ComputeTarget, tags: dict[str, Any],
                      properties: dict[str, str] | None = None) -> str:
    """Record a run of an already-stored snapshot (Queued) and start its supervisor; its id."""
    run_id = new_run_id(spec.experiment)
    run_folder = compute.run_folder(folder.runs_root, run_id)
    run_folder.create(spec.to_json())
    _record(folder, run_folder.path, RunRecord(
        run_id=run_id, experiment=spec.experiment, status=RunStatus.QUEUED, target=compute.name,
        created_time=time.time(), spec_json=spec.to_json(), snapshot_digest=spec.snapshot_digest,
        properties={"runyard.entryScript": spec.entry_script, "runyard.placement": compute.placement(spec),
                    **(properties or {})}), tags)
    try:
        compute.launch(run_folder, spec)
    except Exception as e:
        folder.store.set_status(run_id, RunStatus.FAILED, time.time(), f"launch failed: {e}")
        raise
    return run_id


def submit(folder: WorkspaceFolder, experiment: str, config: Any, tags: dict[str, Any] | None = None,
           properties: dict[str, str] | None = None) -> str:
    """Prepare, snapshot, record and launch a run or a sweep; its run id. Nothing is written unless every
    check passes, and a database that cannot be opened fails the submit first."""
    if tags is not None and not isinstance(tags, dict):
        raise InvalidTypeError("tags", tags, "must be a dict", "pass {'key': 'value'}")
    folder.store  # noqa: B018 - a damaged or newer database fails here, before anything is written
    if isinstance(config, SweepConfig):
        return _submit_sweep(folder, experiment, config, tags or {})
    prepared = prepare(folder, config, experiment)
    spec = take_snapshot(folder, prepared)
    from runyard.script_defaults import defaults_property

    defaults = defaults_property(Path(prepared.source_directory) / spec.entry_script)
    return record_and_launch(folder, spec, prepared.compute, tags or {}, {**defaults, **(properties or {})})


def submit_child(folder: WorkspaceFolder, parent_id: str, experiment: str, config: Any,
                 tags: dict[str, Any] | None = None) -> str:
    if isinstance(config, SweepConfig):
        raise InvalidTypeError("config", config, "is a sweep, which cannot be a child run here",
                               "submit the HyperDriveConfig with experiment.submit(...)")
    return submit(folder, experiment, config, tags, {PARENT_RUN_PROPERTY: parent_id})


def _submit_sweep(folder: WorkspaceFolder, experiment: str, config: SweepConfig, tags: dict[str, Any]) -> str:
    """The parent run, and a detached controller (its command) that starts and watches the trials."""
    from runyard.compute.local import spawn_supervisor

    prepared = prepare(folder, config.trial_config(), experiment)
    template = take_snapshot(folder, prepared)
    sweep = SweepSpec(template=template, compute=prepared.compute.name, **config.sweep_settings())
    run_id = new_run_id(experiment) + "_HD"
    run_folder = folder.run_folder(run_id)
    run_folder.create(template.to_json())
    (run_folder.path / SWEEP_FILE).write_text(sweep.to_json())
    goal = "MAXIMIZE" if sweep.maximize else "MINIMIZE"
    _record(folder, run_folder.path, RunRecord(
        run_id=run_id, experiment=experiment, status=RunStatus.QUEUED, target=sweep.compute,
        created_time=time.time(), spec_json=template.to_json(), snapshot_digest=template.snapshot_digest,
        properties={"runyard.runType": SWEEP_RUN_TYPE,
                    "primary_metric_config": json.dumps({"name": sweep.primary_metric_name, "goal": goal})}), tags)
    spawn_supervisor(run_folder, template, [sys.executable, "-m", "runyard.hyperdrive.controller",
                                            str(run_folder.path)])
    return run_id


def _record(folder: WorkspaceFolder, run_path: Path, record: RunRecord, tags: dict[str, Any]) -> None:
    try:
        folder.store.create_run(record)
    except BaseException:
        shutil.rmtree(run_path, ignore_errors=True)  # no run folder without its run
        raise
    if tags:
        folder.store.set_tags(record.run_id, {str(k): None if v is None else str(v) for k, v in tags.items()})
