"""Runs to and from an MLflow tracking store (`runyard export RUN... --to mlflow URI`, `runyard import --from mlflow
URI`): parameters, every metric point with its step and time, tags, status and times, and output files. Needs the
`mlflow` extra; the URI is any MLflow tracking URI (`sqlite:///mlflow.db`,
`http://mlflow-server:5000`, ...).

runyard's parameters are its runs' `--name value` arguments and sampled hyperparameters; an MLflow run's params come
back as arguments of the imported run, so they read as parameters in runyard again.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.errors import InvalidValueError, WorkspaceError
from runyard.install_hint import install_extra
from runyard.spec import parameters_of as parameters
from runyard.status import RunStatus
from runyard.store.base import RunRecord, SpoolEvent
from runyard.submission import new_run_id

if TYPE_CHECKING:
    from runyard.run import Run
    from runyard.workspace import Workspace

_TO_MLFLOW = {RunStatus.COMPLETED: "FINISHED", RunStatus.FAILED: "FAILED", RunStatus.CANCELED: "KILLED"}
_FROM_MLFLOW = {"FINISHED": RunStatus.COMPLETED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.CANCELED,
                "RUNNING": RunStatus.RUNNING, "SCHEDULED": RunStatus.QUEUED}
SOURCE_TAG = "runyard.runId"
IMPORTED_PROPERTY = "runyard.importedFrom"


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError:
        raise WorkspaceError("MLflow is not installed. Fix: " + install_extra("mlflow")) from None
    if not isinstance(uri, str) or not uri:
        raise InvalidValueError("uri", uri, "is not an MLflow tracking URI", "pass e.g. sqlite:///mlflow.db")
    return MlflowClient(tracking_uri=uri)


def export_runs(runs: list[Run], uri: str) -> dict[str, str]:
    """Each run as an MLflow run of the experiment of the same name; {runyard run id: MLflow run id}."""
    from mlflow.entities import Metric, Param

    client = _client(uri)
    exported: dict[str, str] = {}
    for run in runs:
        record = run._record()
        experiment = client.get_experiment_by_name(record.experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(record.experiment)
        details = run.get_details()
        params = parameters([str(a) for a in details["runDefinition"]["arguments"]],
                            record.properties.get("hyperparameters"))
        tags = {k: "" if v is None else str(v) for k, v in run.get_tags().items()}
        created = client.create_run(experiment_id, start_time=int((record.start_time or record.created_time) * 1000),
                                    tags={**tags, SOURCE_TAG: run.id, "mlflow.runName": record.display_name or run.id})
        mlflow_id = created.info.run_id
        metrics = []
        for key, rank_series in _numeric_series(run).items():
            metrics += [Metric(key, value, int(t * 1000), int(step)) for step, value, t in rank_series]
        metrics += [Metric(key, value, int(t * 1000), step) for key, step, value, t in _system_series(run)]
        for start in range(0, max(len(metrics), 1), 1000):  # MLflow's batch limit
            client.log_batch(mlflow_id, metrics=metrics[start:start + 1000],
                             params=[Param(k, v) for k, v in params.items()] if start == 0 else [])
        with tempfile.TemporaryDirectory() as tmp:
            for name in run.get_file_names():
                if name.startswith("outputs/"):
                    run.download_file(name, str(Path(tmp) / name))
            if (Path(tmp) / "outputs").is_dir():
                client.log_artifacts(mlflow_id, str(Path(tmp) / "outputs"), "outputs")
        status = RunStatus(run.get_status())
        if status.is_terminal():
            client.set_terminated(mlflow_id, _TO_MLFLOW.get(status, "FINISHED"),
                                  end_time=int((record.end_time or time.time()) * 1000))
        exported[run.id] = mlflow_id
    return exported


def _system_series(run: Run) -> list[tuple[str, int, float, float]]:
    """(key, step, mean, time) of the run's system metrics under MLflow's names: `system/...` for node 0 and
    `system/node_N/...` for the others (as MLflow names a node's series when given a node id)."""
    out = []
    for key, nodes in run.get_system_metrics().items():
        for node, series in nodes.items():
            number = int(node.removeprefix("node "))
            name = key if number == 0 else key.replace("system/", f"system/node_{number}/", 1)
            out += [(name, i, m, t) for i, (m, t) in enumerate(zip(series["mean"], series["time"]))]
    return out


def _system_node(key: str) -> tuple[int, str]:
    """'system/node_2/cpu_utilization_percentage' -> (2, 'system/cpu_utilization_percentage'); node 0 otherwise."""
    parts = key.split("/")
    if len(parts) > 2 and parts[1].startswith("node_") and parts[1][5:].isdigit():
        return int(parts[1][5:]), "/".join([parts[0], *parts[2:]])
    return 0, key


def _numeric_series(run: Run) -> dict[str, list[tuple[float, float, float]]]:
    """key -> [(step, value, time)] of rank 0's numeric points (x is the point's index when logged without step)."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    for key, value in run.logged_metrics().items():
        values = value if isinstance(value, list) else [value]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            series = run.get_metric_series(key, max_points=None)
            out[key] = [(s, v, t) for s, v, t in zip(series.steps, series.values, series.times) if v is not None]
    return out


def import_runs(workspace: Workspace, uri: str, experiment: str | None = None) -> dict[str, str]:
    """Every MLflow run (of `experiment`, or of all experiments) as a finished runyard run; {MLflow id: runyard id}.
    A run imported before (same MLflow run id) is not imported again."""
    client = _client(uri)
    experiments = [client.get_experiment_by_name(experiment)] if experiment else client.search_experiments()
    store = workspace.store
    have = {r.properties.get(IMPORTED_PROPERTY) for r in store.list_runs()}
    imported: dict[str, str] = {}
    for exp in experiments:
        if exp is None:
            raise InvalidValueError("experiment", experiment, f"is not an experiment of {uri}",
                                    "pass one of its experiment names, or leave it out for all")
        for mlflow_run in client.search_runs([exp.experiment_id]):
            source = f"mlflow:{mlflow_run.info.run_id}"
            if source in have:
                continue
            run_id = _import_one(workspace, client, exp.name, mlflow_run, source)
            imported[mlflow_run.info.run_id] = run_id
    return imported


def _import_one(workspace: Workspace, client: Any, experiment: str, mlflow_run: Any, source: str) -> str:
    store = workspace.store
    info, data = mlflow_run.info, mlflow_run.data
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in experiment)[:200] or "imported"
    run_id = new_run_id(name)
    arguments = [x for k, v in sorted(data.params.items()) for x in (f"--{k}", v)]
    start = (info.start_time or 0) / 1000 or time.time()
    workspace.folder.run_folder(run_id).create(json.dumps({"arguments": arguments}))
    store.create_run(RunRecord(run_id=run_id, experiment=name, status=RunStatus.RUNNING, target="mlflow",
                               created_time=start, spec_json=json.dumps({"arguments": arguments}),
                               display_name=data.tags.get("mlflow.runName", ""),
                               properties={IMPORTED_PROPERTY: source}))
    store.set_status(run_id, RunStatus.RUNNING, start)
    events = []
    for key in data.metrics:
        if key.startswith("system/"):  # MLflow's system metrics become runyard's, apart from the script's
            node, name = _system_node(key)
            events += [SpoolEvent("system", name, [float(m.value)] * 3, None, node, m.timestamp / 1000)
                       for m in client.get_metric_history(info.run_id, key)]
            continue
        events += [SpoolEvent("scalar", key, float(m.value), int(m.step), 0, m.timestamp / 1000)
                   for m in client.get_metric_history(info.run_id, key)]
    store.ingest(run_id, sorted(events, key=lambda e: (e.time, e.key)), f"mlflow-{info.run_id}.jsonl", 0, 1)
    store.set_tags(run_id, {k: v for k, v in data.tags.items() if not k.startswith("mlflow.") and k != SOURCE_TAG})
    with tempfile.TemporaryDirectory() as tmp:
        if client.list_artifacts(info.run_id):
            local = client.download_artifacts(info.run_id, "", tmp)
            for path in Path(local).rglob("*"):
                if path.is_file():
                    target = workspace.folder.run_folder(run_id).upload_target(path.relative_to(local).as_posix())
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
    status = _FROM_MLFLOW.get(info.status, RunStatus.COMPLETED)
    store.set_status(run_id, status if status.is_terminal() else RunStatus.COMPLETED,
                     (info.end_time or info.start_time or 0) / 1000 or time.time())
    return run_id
