"""Who may call the server: loopback by default; any other bind needs a bearer token."""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from runyard.errors import InvalidValueError

MAX_REQUEST_BYTES = 64 << 20


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_for(host: str, token: str | None) -> str | None:
    """Binding beyond loopback without a token is refused before the server starts."""
    if not is_loopback(host) and not token:
        raise InvalidValueError("host", host, "is not a loopback address, and no token was given",
                                "pass --token (or RUNYARD_SERVER_TOKEN), or bind 127.0.0.1")
    return token


def new_token() -> str:
    return secrets.token_urlsafe(32)


class GuardMiddleware(BaseHTTPMiddleware):
    """Bearer token (compared in constant time) and a bound on request sizes."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BYTES):
            return JSONResponse({"error": f"request body over {MAX_REQUEST_BYTES} bytes"}, status_code=413)
        if self.token and request.url.path.startswith("/api/"):
            given = request.headers.get("authorization", "")
            given = given[7:] if given.lower().startswith("bearer ") else request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return JSONResponse({"error": "missing or wrong token (Authorization: Bearer ...)"}, status_code=401)
        return await call_next(request)
