"""The FastAPI application: API under /api/v1, OpenAPI at /openapi.json, the web UI at /."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from runyard import __version__
from runyard.server.address import DEFAULT_HOST, DEFAULT_PORT, base_url
from runyard.server.api import build_router
from runyard.server.run_page_api import build_run_page_router
from runyard.server.security import MAX_REQUEST_BYTES, GuardMiddleware
from runyard.server.static_assets import build_static_router
from runyard.server.submit_api import build_submit_router
from runyard.server.tokens import TokenBook
from runyard.workspace import Workspace

STATIC = Path(__file__).resolve().parent / "static"


SERVE_WORKSPACE_ENV = "RUNYARD_SERVE_WORKSPACE"
SERVE_MAX_UPLOAD_ENV = "RUNYARD_SERVE_MAX_UPLOAD"
TOKEN_ENV = "RUNYARD_SERVER_TOKEN"


def create_app(workspace: Workspace, token: str | None = None, max_upload_bytes: int = MAX_REQUEST_BYTES) -> FastAPI:
    workspace.folder.store_connections = 16  # a PostgreSQL pool for the request threads of this process
    workspace.backend  # noqa: B018 - its modules imported now, not by the first run page a user opens
    app = FastAPI(title="runyard", version=__version__, docs_url="/api/docs", openapi_url="/openapi.json")
    app.add_middleware(GuardMiddleware, tokens=TokenBook(workspace.store, token), max_body=max_upload_bytes)
    app.include_router(build_router(workspace))
    app.include_router(build_submit_router(workspace))
    app.include_router(build_run_page_router(workspace))
    app.include_router(build_static_router(STATIC))
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of `runyard server --workers N` (uvicorn imports it in each)."""
    return create_app(Workspace(os.environ[SERVE_WORKSPACE_ENV]), os.environ.get(TOKEN_ENV) or None,
                      int(os.environ.get(SERVE_MAX_UPLOAD_ENV, MAX_REQUEST_BYTES)))


def serve(workspace: Workspace, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
          max_upload_bytes: int = MAX_REQUEST_BYTES, workers: int = 1) -> None:
    import uvicorn

    from runyard.server.security import require_token_for

    require_token_for(host, token, named_tokens=TokenBook(workspace.store, None).required())
    # run.get_portal_url() and RunDetails point at this server while it runs (never with its token)
    workspace.folder.write_serving(base_url(host if host not in ("", "0.0.0.0", "::") else "127.0.0.1", port))
    try:
        if workers > 1:  # separate processes on one socket, each with its own app over the same store
            os.environ[SERVE_WORKSPACE_ENV] = str(workspace.path)
            os.environ[SERVE_MAX_UPLOAD_ENV] = str(max_upload_bytes)
            if token:
                os.environ[TOKEN_ENV] = token
            uvicorn.run("runyard.server.app:app_from_environment", factory=True, workers=workers, host=host,
                        port=port, log_level="warning")
        else:
            uvicorn.run(create_app(workspace, token, max_upload_bytes), host=host, port=port, log_level="warning")
    finally:
        workspace.folder.clear_serving()
