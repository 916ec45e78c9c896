"""REST API v1 over a workspace's store: runs, metrics, files, logs (with live follow), cancel."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse

from runyard import __version__
from runyard.errors import InvalidValueError, ReproducibilityError, RunNotFoundError
from runyard.run import Run
from runyard.server.uploads import receive_to
from runyard.spec import parameters_of
from runyard.status import RunStatus
from runyard.store import run_filter
from runyard.store.base import PARENT_RUN_PROPERTY, RunOrder, RunQuery
from runyard.tracking.ingest import parse_events, rank_of
from runyard.tracking.query import get_series, run_table
from runyard.workspace import Workspace

API_VERSION = 1
SORTABLE = {"created", "status", "experiment", "duration", "run_id"}
SPOOL_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,200}\.jsonl$")


def run_or_404(ws: Workspace, run_id: str) -> Run:
    try:
        return Run.get(ws, run_id)
    except (RunNotFoundError, InvalidValueError) as e:
        raise HTTPException(status_code=404, detail=str(e)) from None


def details_of(run: Run) -> dict[str, Any]:
    """What a run page shows of a run (GET /runs/{id}): its details and its files' names."""
    return {**run.get_details(), "files": run.get_file_names()}


def _owned(ws: Workspace, run_id: str) -> Run:
    """The run, if this request's token may change it (its submitter's own, or an admin token)."""
    from runyard.identity import may_change

    run = run_or_404(ws, run_id)
    refusal = may_change(ws.store.get_run(run.id).owner)
    if refusal is not None:
        raise HTTPException(403, f"run {run.id}: {refusal}")
    return run


def run_parameters(r: Any) -> dict[str, str]:
    """A run's parameters for the runs table (its arguments, then its sampled hyperparameters)."""
    try:
        arguments = json.loads(r.spec_json or "{}").get("arguments", [])
    except ValueError:
        arguments = []
    return parameters_of(arguments, r.properties.get("hyperparameters"))


def _primary_metric(r: Any) -> str | None:
    try:
        return str(json.loads(r.properties["primary_metric_config"])["name"])
    except (KeyError, ValueError, TypeError):
        return None


def _duration(r: Any) -> float | None:
    if r.start_time is None:
        return None
    return (r.end_time or time.time()) - r.start_time


def _looks_like_filter(text: str) -> bool:
    return any(c in text for c in "=<>") or " like " in text.lower() or " in (" in text.lower()


def build_router(ws: Workspace) -> APIRouter:
    api = APIRouter(prefix="/api/v1")

    @api.get("/version")
    def version() -> dict[str, Any]:
        return {"runyard": __version__, "api": API_VERSION, "workspace": ws.name, "workspacePath": str(ws.path)}

    @api.get("/experiments")
    def experiments() -> list[str]:
        return ws.store.list_experiments()

    @api.get("/runs")
    def runs(experiment: str | None = None, status: str | None = None, q: str | None = None,
             filter: str | None = None, owner: str | None = None,
             sort: str = "created", order: str = "desc", offset: int = Query(0, ge=0),
             limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        """A page of runs, filtered and ordered in SQL. `filter` is an expression (metrics.acc > 0.9 and
        params.lr = '0.01'); `q` is one too when it has a comparison, else a piece of a run id or experiment."""
        if sort not in SORTABLE and not sort.startswith("metric:"):
            raise HTTPException(400, f"sort={sort!r}: use one of {sorted(SORTABLE)} or metric:<key>")
        try:
            state = RunStatus(status) if status else None
        except ValueError:
            raise HTTPException(400, f"status={status!r}: use one of {[s.value for s in RunStatus]}") from None
        expressions = [e for e in (filter, q if q and _looks_like_filter(q) else None) if e]
        if owner:
            expressions.append(f"owner = '{owner.replace(chr(39), chr(39) * 2)}'")
        try:
            where = run_filter.parse(" and ".join(f"{e}" for e in expressions)) if expressions else None
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None
        query = RunQuery(experiment=experiment, status=state, where=where,
                         text=q if q and not _looks_like_filter(q) else None,
                         order=RunOrder.METRIC if sort.startswith("metric:") else RunOrder(sort),
                         metric=sort.removeprefix("metric:") if sort.startswith("metric:") else None,
                         ascending=order != "desc", limit=limit, offset=offset)
        try:
            total, page = ws.store.query_runs(query)
        except InvalidValueError as e:  # sort=metric: without a key
            raise HTTPException(400, str(e)) from None
        table = run_table(ws.store, run_ids=[r.run_id for r in page]) if page else {}
        return {"total": total, "offset": offset, "runs": [{
            "runId": r.run_id, "experiment": r.experiment, "status": r.status.value, "target": r.target,
            "owner": r.owner, "properties": r.properties, "parent": r.properties.get(PARENT_RUN_PROPERTY),
            "statusDetail": r.status_detail,
            "params": run_parameters(r), "primaryMetric": _primary_metric(r),
            "created": r.created_time, "start": r.start_time, "end": r.end_time, "duration": _duration(r),
            "metrics": {k: {"last": s.last, "min": s.min, "max": s.max, "count": s.count}
                        for k, s in (table[r.run_id].metrics.items() if r.run_id in table else [])},
        } for r in page]}

    @api.get("/runs/{run_id}/record")
    def run_record(run_id: str) -> dict[str, Any]:
        """The stored row of a run (a prefix of its id is enough), its status made true first."""
        run = run_or_404(ws, run_id)
        run._status()
        record = ws.store.get_run(run.id)
        return {**{f.name: getattr(record, f.name) for f in fields(record)}, "status": record.status.value}

    @api.post("/runs/{run_id}/status")
    def set_status(run_id: str, body: dict[str, Any]) -> dict[str, str]:
        """The end of an interactive run (a client's run.complete() / run.fail())."""
        run = run_or_404(ws, run_id)
        try:
            status = RunStatus(body.get("status"))
        except ValueError:
            raise HTTPException(400, f"status={body.get('status')!r}: send Completed or Failed") from None
        if status not in (RunStatus.COMPLETED, RunStatus.FAILED):
            raise HTTPException(400, f"status={status.value!r}: a client may only complete or fail a run; "
                                     "cancel it with POST /runs/{id}/cancel")
        error = body.get("error")
        run._backend.set_status(run.id, status, None if error is None else str(error)[:100_000])
        return {"runId": run.id, "status": run.get_status()}

    @api.post("/runs/{run_id}/tags/remove")
    def remove_tags(run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        run = run_or_404(ws, run_id)
        keys = body.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise HTTPException(400, "keys: send a list of tag names")
        run.remove_tags(keys)
        return {"tags": run.get_tags()}

    @api.post("/runs/{run_id}/properties")
    def add_properties(run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        run = run_or_404(ws, run_id)
        try:
            run.add_properties({str(k): str(v) for k, v in body.items()})
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None
        return {"properties": run.get_properties()}

    @api.post("/runs/interactive")
    def start_interactive(body: dict[str, Any]) -> dict[str, str]:
        """A run a client logs to by hand (exp.start_logging(), run.child_run()), Running until it ends it."""
        from runyard.experiment import Experiment

        try:
            experiment = Experiment(ws, body.get("experiment"))
            parent = body.get("parentId")
            if parent is not None:
                parent = run_or_404(ws, str(parent)).id
            display = body.get("displayName")
            run_id = ws.backend.start_interactive(experiment.name, None if display is None else str(display)[:255],
                                                  parent, None)
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None
        return {"runId": run_id}

    @api.get("/runs/{run_id}")
    def run_details(run_id: str) -> dict[str, Any]:
        return details_of(run_or_404(ws, run_id))

    @api.get("/models")
    def models() -> list[dict[str, Any]]:
        """Every registered model version, newest first."""
        from runyard.models.registry import Model

        return sorted((m.serialize() for m in Model.list(ws)), key=lambda m: -m["createdTime"])

    @api.get("/services")
    def services() -> list[dict[str, Any]]:
        from runyard.models.webservice import Webservice

        return [s.serialize() for s in Webservice.list(ws)]

    @api.put("/runs/{run_id}/files/{name:path}")
    async def put_run_file(run_id: str, name: str, request: Request) -> dict[str, str]:
        """A file for the run (run.upload_file / log_image from a remote client), confined to the run."""
        run = run_or_404(ws, run_id)
        try:
            target = run.folder.upload_target(name)
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None
        clash = next((p for p in (target, *target.parents) if p.is_relative_to(run.folder.path) and
                      (p.is_dir() if p == target else p.exists() and not p.is_dir())), None)
        if clash is not None:  # a file where a folder is, or a folder where the file would go
            raise HTTPException(409, f"name={name!r}: {clash.relative_to(run.folder.path)} is already a "
                                     f"{'folder' if clash.is_dir() else 'file'} of the run. Fix: upload under "
                                     "another name")
        await receive_to(request, target)
        return {"name": name}

    @api.get("/runs/{run_id}/sweep")
    def sweep(run_id: str) -> dict[str, Any]:
        """A sweep's settings (search space, sampling, policy, limits) and each early-termination decision with
        the numbers that made it."""
        from runyard.spec import SweepSpec
        from runyard.submission import SWEEP_FILE

        run = run_or_404(ws, run_id)
        path = run.folder.path / SWEEP_FILE
        if not path.is_file():
            raise HTTPException(404, f"run {run.id} is not a sweep")
        spec = SweepSpec.from_json(path.read_text())
        decisions = [{"runId": c.id, "why": c.get_tags()["runyard.earlyTermination"]} for c in run.get_children()
                     if "runyard.earlyTermination" in c.get_tags()]
        return {"sampling": spec.sampling, "policy": spec.policy, "primaryMetric": spec.primary_metric_name,
                "maximize": spec.maximize, "maxTotalRuns": spec.max_total_runs,
                "maxConcurrentRuns": spec.max_concurrent_runs, "maxDurationSeconds": spec.max_duration_seconds,
                "decisions": decisions}

    @api.get("/runs/{run_id}/children")
    def run_children(run_id: str) -> dict[str, Any]:
        """A run's children; for a sweep, best first by its primary metric, with their hyperparameters."""
        run = run_or_404(ws, run_id)
        return {"primaryMetric": getattr(run, "primary_metric_config", None), "children": run.children_summary()}

    @api.get("/runs/{run_id}/metrics")
    def run_metrics(run_id: str, rank: int | None = Query(None, ge=0), all_ranks: bool = False) -> dict[str, Any]:
        run = run_or_404(ws, run_id)
        keys: dict[str, list[int]] = {}
        for s in ws.store.metric_summaries(run_ids=[run.id]):
            if s.kind.value == "scalar":
                keys.setdefault(s.key, []).append(s.rank)
        return {"metrics": run.logged_metrics(all_ranks=all_ranks, rank=rank),
                "series": {k: sorted(v) for k, v in keys.items()}}

    @api.get("/runs/{run_id}/metrics/{key:path}/series")  # a key may hold '/' ('train/loss')
    def series(run_id: str, key: str, rank: int = 0, max_points: int = Query(2000, ge=10, le=100_000),
               step_min: float | None = None, step_max: float | None = None) -> dict[str, Any]:
        run = run_or_404(ws, run_id)
        run._catch_up()
        rng = (step_min if step_min is not None else float("-inf"), step_max if step_max is not None else float("inf"))
        view = get_series(ws.store, run.id, key, rank=rank, max_points=max_points,
                          step_range=rng if step_min is not None or step_max is not None else None)
        return {"key": key, "rank": rank, "steps": view.steps, "values": view.values, "times": view.times,
                "total": view.total_points, "downsampled": view.downsampled, "bands": view.bands}

    @api.get("/runs/{run_id}/files/{name:path}")
    def file(run_id: str, name: str, offset: int = Query(0, ge=0)) -> Response:
        run = run_or_404(ws, run_id)
        try:
            if not run.folder.path.is_dir():  # the run's folder is on another host: its mirrored copy
                return Response(run._backend.read_file(run.id, name, offset), media_type="application/octet-stream",
                                headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name.split('/')[-1])}"})
            path = run.folder.file_path(name)  # only names the run lists: nothing outside the run
        except InvalidValueError as e:
            raise HTTPException(404, str(e)) from None
        if offset:  # the rest of a growing log, from where a follower stopped
            with open(path, "rb") as f:
                f.seek(offset)
                return Response(f.read(), media_type="application/octet-stream")
        return FileResponse(path, filename=path.name)

    @api.get("/runs/{run_id}/logs/{rank}")
    def logs(run_id: str, rank: int, offset: int = Query(0, ge=0)) -> PlainTextResponse:
        data = _read_log(run_or_404(ws, run_id), rank, offset)
        return PlainTextResponse(data.decode("utf-8", errors="replace"),
                                 headers={"X-Next-Offset": str(offset + len(data))})

    @api.get("/runs/{run_id}/logs/{rank}/follow")
    async def follow(run_id: str, rank: int) -> StreamingResponse:
        run = run_or_404(ws, run_id)
        return StreamingResponse(_follow(run, rank), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @api.get("/runs/{run_id}/spool")
    def spool_offsets(run_id: str) -> dict[str, int]:
        return ws.store.spool_offsets(run_or_404(ws, run_id).id)

    @api.post("/runs/{run_id}/spool/{source}")
    async def spool_batch(run_id: str, source: str, request: Request, start: int = Query(..., ge=0)) -> JSONResponse:
        """Whole spool lines from a worker that cannot reach the workspace: stored exactly once, by offset."""
        run = run_or_404(ws, run_id)
        if not SPOOL_SOURCE.match(source):
            raise HTTPException(400, f"source={source!r}: not a spool file name (rank-<r>.<pid>.jsonl)")
        data = await request.body()
        if data and not data.endswith(b"\n"):
            raise HTTPException(400, "a batch must end with a whole line")
        stored_offset = (await asyncio.to_thread(ws.store.spool_offsets, run.id)).get(source, 0)
        if stored_offset != start:  # a re-sent or stale batch: answered with the stored offset, never parsed
            return JSONResponse({"offset": stored_offset}, status_code=409)
        rejected: list[str] = []
        events = parse_events(data, rank_of(source), rejected)
        if rejected:  # a client that writes bad lines hears of it; nothing of the batch is stored
            raise HTTPException(400, f"spool batch from {source}: {'; '.join(rejected[:5])}")
        stored = await asyncio.to_thread(ws.store.ingest, run.id, events, source, start, start + len(data))
        offset = start + len(data) if stored else (await asyncio.to_thread(ws.store.spool_offsets, run.id)).get(
            source, 0)
        return JSONResponse({"offset": offset}, status_code=200 if stored else 409)

    @api.post("/runs/{run_id}/rerun")
    def rerun(run_id: str, body: dict[str, Any] | None = None) -> dict[str, str]:
        run = _owned(ws, run_id)
        try:
            return {"runId": ws.backend.rerun(run.id, bool((body or {}).get("allowChanges", False)))}
        except ReproducibilityError as e:
            raise HTTPException(409, str(e)) from None
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None

    @api.post("/runs/{run_id}/cancel")
    def cancel(run_id: str) -> dict[str, str]:
        run = _owned(ws, run_id)
        run.cancel()
        return {"runId": run.id, "status": run.get_status()}

    @api.post("/runs/{run_id}/priority")
    def priority(run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        run = _owned(ws, run_id)
        try:
            run.set_priority(body.get("priority"))
        except InvalidValueError as e:
            raise HTTPException(400, str(e)) from None
        return {"runId": run.id, "priority": body.get("priority")}

    @api.get("/runs/{run_id}/system")
    def system_metrics(run_id: str, name: str | None = None) -> dict[str, Any]:
        run = run_or_404(ws, run_id)
        return {"runId": run.id, "system": run.get_system_metrics(name)}

    @api.get("/box")
    def box() -> dict[str, Any]:
        return ws.backend.box_report()  # type: ignore[no-any-return]

    return api


def _read_log(run: Run, rank: int, offset: int) -> bytes:
    """Up to 1 MiB of a rank's log from `offset`: from the run folder, or from the object store when the
    folder is on another host (mirrored every few seconds while it runs); b"" while there is none."""
    path = run.folder.rank_log(rank)
    if path.exists():
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(1 << 20)
    if not run.folder.path.is_dir():
        try:
            return run._backend.read_file(run.id, f"user_logs/{path.name}", offset)[: 1 << 20]
        except (InvalidValueError, OSError, ValueError):
            return b""
    return b""


async def _follow(run: Run, rank: int) -> AsyncIterator[bytes]:
    """Server-sent events: each new complete log line as `data:`, then an `end` event with the status."""
    offset, pending = 0, b""
    while True:
        status = await asyncio.to_thread(run._status)
        chunk = await asyncio.to_thread(_read_log, run, rank, offset)
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield b"data: " + json.dumps(line.decode("utf-8", errors="replace")).encode() + b"\n\n"
        if status.is_terminal() and not chunk:
            if pending:
                yield b"data: " + json.dumps(pending.decode("utf-8", errors="replace")).encode() + b"\n\n"
            yield b"event: end\ndata: " + json.dumps(status.value).encode() + b"\n\n"
            return
        await asyncio.sleep(0.2)

