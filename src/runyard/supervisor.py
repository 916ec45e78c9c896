"""The supervisor: one detached process per run, `python -m runyard.supervisor RUN_DIR`. It sits above
compute/ (it asks the run's compute target for its launchers) and launch/ (the runtime it drives).

Preparing (snapshot, data, environment) -> Starting/Running (node agents) -> Finalizing
(uploads, last metrics) -> Completed / Failed / Canceled, each written with its time. It keeps
going when the submitting process exits; SIGTERM (cancel) stops the ranks and ends Canceled.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from runyard.launch.agent import interpreter_env
from runyard.launch.launcher import Ended, JobFailure, Outcome, RankExit
from runyard.layout import WorkspaceFolder
from runyard.run_folder import RunFolder
from runyard.spec import FaultKind, JobSpec
from runyard.status import RunStatus
from runyard.store.base import Store
from runyard.tracking.ingest import Ingester

POLL_SECONDS = 0.05
CHECKPOINT_ENV = "RUNYARD_CHECKPOINT_DIR"
NODE_LOSS_RESTARTS = 3  # attempts after lost cluster nodes (they do not count against max_restarts)
FAULT_PROPERTY = "runyard.fault"
_log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 10.0
TRACEBACK_LINES = 40


def traceback_tail(log_file: Path, max_lines: int = TRACEBACK_LINES) -> str:
    """The last Python traceback in a rank's log, or its last lines."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    # torch prefixes a rank's traceback lines with "[rank0]: "
    starts = [i for i, ln in enumerate(lines) if "Traceback (most recent call last)" in ln[:64]]
    tail = lines[starts[-1]:] if starts else lines[-10:]
    return "\n".join(tail[-max_lines:])


# the last line of a traceback that a rank raises because a peer went away, not because of its own code
_PEER_ERROR = re.compile(r"Connection (closed|reset) by peer|DistBackendError|ProcessGroup|gloo|NCCL|Broken pipe|"
                         r"TCPStore|recvBytes|Socket Timeout|SIGTERM|Terminated", re.IGNORECASE)


def first_failed_rank(folder: RunFolder, attempt: int, world_size: int, exited_first: int) -> int:
    """The rank whose own error ended the job. The first rank to exit is often a peer that lost its
    connection to the failing rank while that one was still printing its traceback and shutting down."""
    def own_error(rank: int) -> bool:
        tail = traceback_tail(folder.rank_log(rank, attempt))
        return "Traceback (most recent call last)" in tail[:64] and not _PEER_ERROR.search(tail.splitlines()[-1])

    if own_error(exited_first) or world_size > 4096:
        return exited_first
    return next((r for r in range(world_size) if r != exited_first and own_error(r)), exited_first)


class Supervisor:
    def __init__(self, store: Store, folder: RunFolder, spec: JobSpec, workspace_root: Path, target: Any) -> None:
        self.store, self.folder, self.spec, self.workspace_root = store, folder, spec, workspace_root
        self.target = target  # the ComputeTarget: it hands out the launchers
        self._cancel = False
        self._prepare_lines: list[str] = []

    def request_cancel(self, *_: object) -> None:
        from runyard.environments.build import stop_running_builds

        self._cancel = True
        stop_running_builds()  # a build in progress (uv, conda) stops now, not when it would have ended
        self.target.interrupt()  # a run waiting in the box's queue stops waiting now

    def _canceled(self) -> bool:
        return self._cancel or self.folder.cancel_file.exists()

    def _status(self, status: RunStatus, error: str | None = None) -> None:
        self.store.set_status(self.folder.run_id, status, time.time(), error)
        _log.info("%s%s", status.value, f": {error.splitlines()[0]}" if error else "")

    def _plog(self, line: str) -> None:
        with open(self.folder.prepare_log, "a") as f:
            f.write(line + "\n")

    def _provenance(self, interpreter: str, data_env: dict[str, str]) -> str | None:
        """Start recording what the run needs to be reproduced; a rerun checks it first and may refuse."""
        from runyard.launch.provenance_record import (ALLOW_CHANGES_PROPERTY, EXPECTED_PROPERTY, ProvenanceRecorder,
                                                      differences)

        recorder = ProvenanceRecorder(self.spec, interpreter, data_env, self.workspace_root)
        properties = self.store.get_run(self.folder.run_id).properties
        expected = properties.get(EXPECTED_PROPERTY)
        if expected is None:
            self._recorder = recorder  # started once the ranks are (it must not slow their start)
            return None
        self._recorder = recorder
        found = recorder.now() or {}
        changed = differences(json.loads(expected), found)
        for line in changed:
            self._plog(f"rerun: {line}")
        if changed and properties.get(ALLOW_CHANGES_PROPERTY) != "true":
            return ("this rerun would not reproduce its original run, so it did not start:\n  " + "\n  ".join(changed)
                    + "\nFix: rerun with --allow-changes (Run.rerun(allow_changes=True)) to run it anyway; the "
                      "differences are then recorded on the run")
        if changed:
            self.store.add_properties(self.folder.run_id, {"runyard.rerunChanges": json.dumps(changed)})
        return None

    def _store_provenance(self) -> None:
        from runyard.launch.provenance_record import as_property
        from runyard.provenance import PROVENANCE_PROPERTY

        recorder = getattr(self, "_recorder", None)
        if recorder is None:
            return
        record, error = recorder.result()
        if record is not None:
            self.store.add_properties(self.folder.run_id, {PROVENANCE_PROPERTY: as_property(record)})
        else:
            self._plog(f"what the run needs to be reproduced was not recorded: {error}")

    def run(self) -> RunStatus:
        ingester = Ingester(self.store, self.folder.run_id, self.folder.spool_dir, mirror=self._tensorboard()).start()
        files_mirror = self._artifacts_mirror()
        try:
            status, error = self._run()
        except Exception as e:  # noqa: BLE001 - any failure becomes the run's error, never a silent exit
            status, error = RunStatus.FAILED, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        # everything is stored before the final status, so a reader who sees it sees all metrics
        try:
            ingester.stop()
        except Exception as e:  # noqa: BLE001 - the final status is written whatever the store said
            self._plog(f"storing the last metrics failed ({type(e).__name__}: {e}); they stay in the spool "
                       "files and are stored when the run is next read")
        self.folder.ranks_file.unlink(missing_ok=True)
        try:
            self._store_provenance()
        except Exception as e:  # noqa: BLE001 - the final status is written whatever happened here
            self._plog(f"recording provenance failed: {e}")
        if files_mirror is not None:  # and every file is in the object store before it, too
            self._finish_mirror(files_mirror)
        self._status(status, error)
        return status

    def _artifacts_mirror(self) -> Any:
        from runyard.artifacts import RunMirror

        try:
            artifacts = WorkspaceFolder(self.workspace_root).artifacts
        except Exception as e:  # noqa: BLE001 - a bad setting is reported on the run, which goes on
            self._plog(f"run files are not mirrored: {e}")
            return None
        if artifacts is None:
            return None
        from runyard import snapshot

        blobs = snapshot.BlobStore(self.workspace_root / "blobs")
        wanted = {self.spec.snapshot_digest: blobs.path_of(self.spec.snapshot_digest)}
        try:
            wanted.update({f.digest: blobs.path_of(f.digest)
                           for f in snapshot.load_manifest(blobs, self.spec.snapshot_digest).files})
        except (OSError, ValueError):
            wanted = {}
        return RunMirror(artifacts, self.folder, wanted).start()

    def _finish_mirror(self, files_mirror: Any) -> None:
        from runyard.artifacts import ARTIFACTS_PROPERTY

        failure = files_mirror.finish()
        if failure is None:
            self.store.add_properties(self.folder.run_id, {ARTIFACTS_PROPERTY: files_mirror.artifacts.uri})
        else:
            self._plog(f"run files could not all reach {files_mirror.artifacts.uri} ({failure}); they are kept in "
                       f"{self.folder.path}")

    def _tensorboard(self) -> Any:
        """Event files of what the run logs, when the job (or this process) sets RUNYARD_TENSORBOARD=1."""
        import os

        from runyard.tracking.tensorboard_events import TensorBoardMirror, wanted

        variables = {**os.environ, **dict(self.spec.environment.variables), **dict(self.spec.environment_variables)}
        return TensorBoardMirror(self.folder.working_dir / "logs" / "tensorboard") if wanted(variables) else None

    def _storage_options(self) -> dict[str, dict[str, Any]]:
        """datastore name -> its fsspec options, from the workspace config (never credentials)."""
        return WorkspaceFolder(self.workspace_root).storage_options()

    def _prepare(self) -> tuple[str, dict[str, str]]:
        from runyard import snapshot
        from runyard.launch.data_bindings import resolve_inputs
        from runyard.environments.interpreter import prepare_interpreter

        blobs = snapshot.BlobStore(self.workspace_root / "blobs")
        manifest = snapshot.load_manifest(blobs, self.spec.snapshot_digest)
        snapshot.materialize(manifest, blobs, self.folder.working_dir)
        self._plog(f"snapshot {self.spec.snapshot_digest[:12]}: {len(manifest.files)} files")
        lines: list[str] = []
        data_env = resolve_inputs(self.spec.inputs, self.folder.working_dir, lines, self._storage_options())
        for line in lines:
            self._plog(line)
        if data_env:  # where each data reference was found on this node, for the run page
            self.store.add_properties(self.folder.run_id, {"runyard.inputs": json.dumps(
                {k.removeprefix("AZUREML_DATAREFERENCE_"): v for k, v in sorted(data_env.items())
                 if k.startswith("AZUREML_DATAREFERENCE_")})})
        if self.spec.fault is not None and self.spec.fault.kind is FaultKind.FAIL_BUILD:
            from runyard.errors import EnvironmentBuildError

            self.store.add_properties(self.folder.run_id, {FAULT_PROPERTY: json.dumps(
                {"fault": "fail-build", "attempt": 0, "injected": True})})
            raise EnvironmentBuildError("the environment build failed: injected (fault fail-build)")
        if self.spec.container is not None:
            return self._prepare_container(data_env)
        interpreter, packages = prepare_interpreter(self.spec.environment, self.target.environment_root(
            self.workspace_root), self.folder.prepare_log, self._plog)
        if packages:  # the exact set, so the environment can be rebuilt
            self.store.add_properties(self.folder.run_id, {
                "runyard.packages": json.dumps([f"{n}=={v}" for n, v in sorted(packages.items())]),
                "runyard.interpreter": interpreter})
        return interpreter, data_env

    def _prepare_container(self, data_env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The run's image, pulled or built now if this machine lacks it; the ranks' agents run it."""
        from runyard.environments.container_runtime import IMAGE_ENV, RUNTIME_ENV, ContainerRuntime
        from runyard.environments.images import prepare_image

        assert self.spec.container is not None
        if not self.target.prepares_images(self.spec):
            self._plog(f"image {self.spec.container.image}: each node pulls it")
            return sys.executable, {**data_env, IMAGE_ENV: self.spec.container.image}
        runtime = ContainerRuntime.find(os.environ.get(RUNTIME_ENV) or None)
        image = prepare_image(self.spec.container, self.spec.environment, runtime, self.folder.prepare_log,
                              self._plog)
        self.store.add_properties(self.folder.run_id, {"runyard.container": json.dumps(
            {"image": image, "runtime": runtime.kind.value, "binary": runtime.binary,
             "shmSize": self.spec.container.shm_size})})
        return sys.executable, {**data_env, IMAGE_ENV: image, RUNTIME_ENV: runtime.binary}

    def _run(self) -> tuple[RunStatus, str | None]:
        """Everything up to the final status, which run() writes; what the box granted is given back as soon
        as the ranks are gone, so the next run in the queue starts while this one finalizes."""
        waited = time.time()
        grant = self.target.acquire(self.folder, self.spec, self._canceled, self._queued)
        if self._canceled():
            return RunStatus.CANCELED, "canceled by the user while queued"
        try:
            if grant is not None:
                self.store.add_properties(self.folder.run_id, {"runyard.allocation": json.dumps(
                    {**self.target.describe_grant(grant), "queuedSeconds": round(time.time() - waited, 3)})})
            return self._granted_run()
        finally:
            self.target.release(self.folder.run_id)

    def _queued(self, reason: str) -> None:
        _log.info("Queued: %s", reason)

    def _granted_run(self) -> tuple[RunStatus, str | None]:
        self._status(RunStatus.PREPARING)
        try:
            interpreter, data_env = self._prepare()
        except Exception as e:  # noqa: BLE001
            if self._canceled():
                self._plog(f"canceled while preparing ({e})")
                return RunStatus.CANCELED, "canceled by the user while preparing"
            self._plog(f"Preparing failed: {e}")
            return RunStatus.FAILED, f"Preparing failed: {e}"
        if self._canceled():
            return RunStatus.CANCELED, "canceled by the user"
        refusal = self._provenance(interpreter, data_env)
        if refusal is not None:
            return RunStatus.FAILED, refusal
        self._status(RunStatus.STARTING)
        base_env = interpreter_env(self.spec, self.folder, {**data_env, "RUNYARD_WORKSPACE": str(self.workspace_root)})
        checkpoints = self.folder.path / "checkpoints"  # kept across attempts: where a restart resumes from
        checkpoints.mkdir(exist_ok=True)
        base_env = {**base_env, CHECKPOINT_ENV: str(checkpoints)}
        attempt, restarts, node_losses = 0, 0, 0
        while True:
            outcome = self._observed_attempt(interpreter, base_env, attempt)
            if isinstance(outcome, RankExit) and restarts < self.spec.limits.max_restarts and not self._canceled():
                attempt, restarts = attempt + 1, restarts + 1
                _log.info("%s; restarting all ranks (attempt %d)", outcome.describe(), attempt)
                continue
            if isinstance(outcome, JobFailure) and outcome.node_lost and node_losses < NODE_LOSS_RESTARTS \
                    and not self._canceled():
                # a lost node is the cluster's failure, not the script's: it does not use up max_restarts
                attempt, node_losses = attempt + 1, node_losses + 1
                self._node_lost = True
                self._status(RunStatus.RUNNING, f"{outcome.describe()}; attempt {attempt} starts when the cluster "
                                                "can place the run again, from the run's last checkpoint")
                continue
            break
        self.target.release(self.folder.run_id)  # every rank has exited: the next queued run may have it all
        self._status(RunStatus.FINALIZING)
        from runyard.launch.data_bindings import upload_outputs

        lines: list[str] = []
        upload_outputs(self.spec.inputs, self.folder.working_dir, lines, self._storage_options())
        for line in lines:
            self._plog(line)
        if outcome is Ended.COMPLETED:
            return RunStatus.COMPLETED, None
        if outcome is Ended.CANCELED:
            return RunStatus.CANCELED, "canceled by the user"
        if outcome is Ended.TIMEOUT:
            return RunStatus.FAILED, (f"the run exceeded max_run_duration_seconds="
                                      f"{self.spec.limits.max_run_duration_seconds} and was stopped")
        if isinstance(outcome, JobFailure):
            return RunStatus.FAILED, outcome.describe()
        assert isinstance(outcome, RankExit)
        cause = first_failed_rank(self.folder, attempt, self.spec.resources.world_size, outcome.rank)
        tail = traceback_tail(self.folder.rank_log(cause, attempt))
        said = outcome.describe() if cause == outcome.rank else \
            f"rank {cause} failed (its peers failed because of it; {outcome.describe()} first)"
        from runyard.failure_hints import fix_for

        fix = fix_for(tail)
        return RunStatus.FAILED, said + (f"\n{tail}" if tail else "") + (f"\n{fix}" if fix else "")

    def _observed_attempt(self, interpreter: str, base_env: dict[str, str], attempt: int) -> Outcome:
        """One attempt, with the fault injected into it if one is asked for; its record on the run
        (runyard.attempt.N: when, how it ended, the first step its ranks logged: where it resumed)."""
        from runyard.launch.faults import FaultInjector, first_logged_step

        started = time.time()
        fault = self.spec.fault
        injector = None
        if fault is not None and fault.kind is not FaultKind.FAIL_BUILD and fault.attempt == attempt:
            injector = FaultInjector(fault, self.spec, self.folder, attempt).start()
            base_env = {**base_env, **injector.environment()}
        decided = None
        try:
            outcome = self._attempt(interpreter, base_env, attempt)
            decided = time.time()  # how it ended was known then (a network fault may outlast the attempt)
        finally:
            if injector is not None:
                report = injector.stop()
                self._plog(f"fault {report['fault']}: " + (f"injected {report['seconds']} s into attempt {attempt}"
                                                          f" (step {report['step']}), pids {report['pids']}"
                                                          if report["injected"] else report["why"]))
                self.store.add_properties(self.folder.run_id, {FAULT_PROPERTY: json.dumps(report)})
        ended = {Ended.COMPLETED: "completed", Ended.CANCELED: "canceled", Ended.TIMEOUT: "timed out"}.get(
            outcome, outcome.describe() if hasattr(outcome, "describe") else str(outcome))  # type: ignore[arg-type]
        # a cluster job the scheduler requeued (preempted, a lost node) ran again within this attempt
        requeued = [t for x in getattr(self, "_launchers", []) for t in getattr(x, "requeued_at", [])]
        record: dict[str, Any] = {"started": started, "ended": time.time(), "outcome": ended,
                                  "decidedSeconds": round((decided or time.time()) - started, 3),
                                  "resumedFromStep": first_logged_step(self.folder.spool_dir, started) if attempt
                                  else None}
        if requeued:
            record["requeued"] = [{"at": t, "resumedFromStep": first_logged_step(self.folder.spool_dir, t)}
                                  for t in sorted(requeued)]
        self.store.add_properties(self.folder.run_id, {f"runyard.attempt.{attempt}": json.dumps(record)})
        return outcome

    def _attempt(self, interpreter: str, base_env: dict[str, str], attempt: int) -> Outcome:
        launchers = self.target.launchers(self.spec, self.folder, interpreter, base_env, attempt)
        if self.spec.resources.node_count > 1:  # a node that drops off the network is named, not waited on
            from runyard.launch.network_watch import NetworkWatch

            launchers = [*launchers, NetworkWatch(self.folder.spool_dir, time.time() - 1.0)]
        for launcher in launchers:
            if hasattr(launcher, "after_node_loss"):
                launcher.after_node_loss = getattr(self, "_node_lost", False)
        self._launchers = launchers
        try:
            for launcher in launchers:
                launcher.start()
        finally:
            self.folder.write_json(self.folder.ranks_file, {"pgids": [g for x in launchers for g in x.pgids]})
        recorder = getattr(self, "_recorder", None)
        if recorder is not None and not recorder.started:
            recorder.start()
        try:
            return self._watch(launchers, attempt)
        finally:
            for launcher in launchers:  # node agents' system samplers write their last window
                close = getattr(launcher, "close", None)
                if close is not None:
                    close()

    def _watch(self, launchers: list[Any], attempt: int) -> Outcome:
        """Until the launchers end, fail, are canceled or run out of time."""
        limit = self.spec.limits.max_run_duration_seconds
        deadline = time.monotonic() + limit if limit else None
        running, last_progress = attempt > 0, ""
        while True:
            failures = [f for x in launchers if (f := x.failure()) is not None]
            outcome: Outcome | None = None
            if failures:
                outcome = min(failures, key=lambda f: f.at)
            elif all(x.finished() for x in launchers):
                return Ended.COMPLETED
            elif self._canceled() or any(x.canceled() for x in launchers):
                outcome = Ended.CANCELED
            elif deadline is not None and time.monotonic() > deadline:
                outcome = Ended.TIMEOUT
            if outcome is not None:
                for launcher in launchers:
                    launcher.stop(STOP_GRACE_SECONDS)
                return outcome
            if not running and all(x.started() for x in launchers):
                running = True
                self._status(RunStatus.RUNNING)
            progress = "; ".join(p for x in launchers if (p := x.progress()))
            if progress and progress != last_progress:  # e.g. a cluster job waiting in its queue
                last_progress = progress
                self.store.set_status(self.folder.run_id, RunStatus.STARTING if not running else RunStatus.RUNNING,
                                      time.time(), progress)
                _log.info("%s", progress)
            time.sleep(POLL_SECONDS)


def main(argv: list[str]) -> int:
    # its output is the run's supervisor.txt: one line per event, as the CLI configures logging for itself
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="[runyard] %(message)s", force=True)
    from runyard.compute.registry import get_target

    folder = RunFolder(argv[1])
    spec = JobSpec.from_json(folder.spec_file.read_text())
    workspace = WorkspaceFolder(folder.path.parent.parent)
    target = get_target(workspace, spec.compute_target)  # the supervisor, not launch/, knows compute targets
    supervisor = Supervisor(workspace.store, folder, spec, workspace.path, target)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, supervisor.request_cancel)
    status = supervisor.run()
    return 0 if status is RunStatus.COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
