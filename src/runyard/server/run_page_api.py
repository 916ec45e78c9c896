"""What a run page needs, whatever the size of the run: its first screen in one request (`/page`: details, the
metric overview with no points, the first charts), then every other chart's series at the chart's width
(`/charts`), in batches the page asks for as it draws."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from runyard.run import Run
from runyard.server.api import details_of, run_or_404
from runyard.store.base import MetricKind
from runyard.server.chart_cache import ChartCache
from runyard.tracking.chart_data import chart_series, charted_keys, metric_overview
from runyard.workspace import Workspace

MAX_KEYS_PER_BATCH = 500


def _json(body: Any) -> Response:
    # json.dumps straight away: FastAPI's encoder walks every float of 100 charts one by one
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def build_run_page_router(ws: Workspace) -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    cache = ChartCache()

    def run_of(run_id: str) -> Run:
        run = run_or_404(ws, run_id)
        run._catch_up()  # a local run's spool read in first, as every metric read does
        return run

    @api.get("/runs/{run_id}/metric-overview")
    def overview(run_id: str) -> Response:
        """Per key: the ranks that logged it as a series, last/min/max/count; lists, rows, tables, images."""
        run = run_of(run_id)
        return _json(metric_overview(ws.store, run.id).as_json())

    def charts_json(run: Run, keys: list[str], first: int | None, width: int,
                    step_range: tuple[float, float] | None) -> bytes:
        """{"keys": [...], "series": [...]}: each key's series for every rank that logged it, at `width`."""
        counts: dict[str, dict[int, int]] = {}  # key -> rank -> points: what a cached entry must still match
        for s in ws.store.metric_summaries(run_ids=[run.id]):
            if s.kind is MetricKind.SCALAR and (s.last is not None or s.min is not None):
                counts.setdefault(s.key, {})[s.rank] = s.count
        if first is not None:
            keys = charted_keys(counts)[:first]
        parts = [cache.get_or_make(
            (run.id, key, rank, count, width, step_range),
            lambda key=key, rank=rank: orjson.dumps(chart_series(ws.store, run.id, key, rank, width, step_range)
                                                    .as_dict(), option=orjson.OPT_SERIALIZE_NUMPY))
            for key in keys for rank, count in sorted(counts.get(key, {}).items())]
        return b'{"keys":' + orjson.dumps(keys) + b',"series":[' + b",".join(parts) + b"]}"

    @api.get("/runs/{run_id}/page")
    def page(run_id: str, width: int = Query(600, ge=10, le=4000, description="the chart width in px"),
             first: int = Query(4, ge=1, le=MAX_KEYS_PER_BATCH, description="how many charts the first screen shows"),
             ) -> Response:
        """A run page's first screen in one answer: the run's details (as GET /runs/{id}), its metric overview and
        its first `first` charts (as /charts?first=N). One request, not three: each costs the browser and the
        server as much again as the bytes they carry, on a machine whose cores the browser keeps busy."""
        run = run_of(run_id)
        body = (b'{"details":' + orjson.dumps(details_of(run)) + b',"overview":'
                + orjson.dumps(metric_overview(ws.store, run.id).as_json()) + b',"charts":'
                + charts_json(run, [], first, width, None) + b"}")
        return Response(body, media_type="application/json")

    @api.get("/runs/{run_id}/charts")
    def charts(run_id: str, keys: list[str] = Query([], description="metric keys, repeated: keys=a&keys=b"),
               width: int = Query(600, ge=10, le=4000, description="buckets per series: the chart's width in px"),
               first: int | None = Query(None, ge=1, le=MAX_KEYS_PER_BATCH,
                                         description="instead of keys: the first N keys the run page charts"),
               step_min: float | None = None, step_max: float | None = None) -> Response:
        """Each key's series for every rank that logged it, as raw points when they fit in `width`, else one
        bucket per pixel with its min, max and mean; step_min/step_max narrow it to a zoomed range. With
        `first=N` (and no keys) the page's first N chart keys are chosen here and returned as `keys`."""
        if len(keys) > MAX_KEYS_PER_BATCH:
            raise HTTPException(422, f"keys: {len(keys)} keys in one request; ask for at most "
                                     f"{MAX_KEYS_PER_BATCH} at a time")
        if bool(keys) == (first is not None):
            raise HTTPException(422, "pass either keys=KEY (repeated) or first=N, not both and not neither")
        run = run_of(run_id)
        bounded = step_min is not None or step_max is not None
        step_range = (step_min if step_min is not None else float("-inf"),
                      step_max if step_max is not None else float("inf")) if bounded else None
        return Response(charts_json(run, keys, first, width, step_range), media_type="application/json")

    return api
