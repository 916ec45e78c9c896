"""Who may call the server, and with what.

- Loopback by default; any other bind needs a bearer token (an empty host means every interface).
- With a token (the server's own, or named tokens in the store: tokens.py): every /api/ request carries
  one (`Authorization: Bearer`, or `?token=` where a browser cannot set a header: EventSource); the
  caller's name is who runs it submits record; a read-only token may only read.
- Without a token (a loopback server): only loopback host names are answered, so a web page whose DNS
  name is re-pointed at 127.0.0.1 (DNS rebinding) cannot read the API or submit runs.
- A request that changes something and comes from another origin (a browser's cross-site POST) is refused.
- Request bodies are bounded while they are read, chunked ones included; nothing over the bound is held.
- Every page is served with a Content-Security-Policy that allows no inline script but index.html's import map
  (named by its hash).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.errors import InvalidValueError
from runyard.identity import acting_as
from runyard.server.tokens import TokenBook

MAX_REQUEST_BYTES = 64 << 20
_POLICY = ("default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
           "frame-ancestors 'none'; form-action 'self'")
CONTENT_SECURITY_POLICY = _POLICY.format(scripts="")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def content_security_policy(*inline_script_sha256: str) -> str:
    """The policy, allowing only these inline scripts (base64 sha256 of their text: index.html's import map)."""
    return _POLICY.format(scripts="".join(f" 'sha256-{digest}'" for digest in inline_script_sha256))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" and "0.0.0.0" bind every interface


def require_token_for(host: str, token: str | None, named_tokens: bool = False) -> str | None:
    """Binding beyond loopback without a token is refused before the server starts."""
    if not is_loopback(host) and not token and not named_tokens:
        shown = "every interface" if host in ("", "0.0.0.0", "::") else "not a loopback address"
        raise InvalidValueError("host", host, f"is {shown}, and no token was given",
                                "pass --token (or RUNYARD_SERVER_TOKEN), or bind 127.0.0.1")
    return token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _host_name(value: str) -> str:
    """The name part of a Host header ('127.0.0.1:8765' -> '127.0.0.1', '[::1]:80' -> '[::1]')."""
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware): it wraps `receive` so the body bound holds for chunked uploads."""

    def __init__(self, app: ASGIApp, tokens: TokenBook, max_body: int = MAX_REQUEST_BYTES) -> None:
        self.app, self.tokens, self.max_body = app, tokens, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        required = self.tokens.known_required()
        if required is None:  # once a second at most: the store is asked off the event loop
            required = await anyio.to_thread.run_sync(self.tokens.required)
        refusal = self._refusal(scope, headers, required)
        caller_name, admin = None, False
        if refusal is None and required and scope["path"].startswith("/api/"):
            caller = await anyio.to_thread.run_sync(self.tokens.caller, _presented(scope, headers))
            if caller is None:
                refusal = 401, "missing, wrong or revoked token (Authorization: Bearer ...)"
            elif caller.read_only and scope["method"] not in _SAFE_METHODS:
                refusal = 403, (f"token {caller.name!r} is read-only: it may read, not submit, cancel or upload. "
                                "Fix: use a token made without --read-only")
            else:
                caller_name, admin = caller.name, caller.admin
        if refusal is not None:
            await _reply(send, *refusal)
            return
        received = 0
        too_large = False

        async def bounded_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    raise BodyTooLarge()
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                # a page that names its own inline scripts (index.html) keeps its policy; every other gets the default
                policy = [] if any(k.lower() == b"content-security-policy" for k, _ in headers) else [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]
                message = {**message, "headers": [*headers, *policy, (b"x-content-type-options", b"nosniff"),
                                                  (b"referrer-policy", b"no-referrer")]}
            await send(message)

        try:
            with acting_as(caller_name, admin):  # runs this request submits record the caller as their submitter
                await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, f"request body over {self.max_body} bytes")
        except Exception:
            if too_large and not started:
                await _reply(send, 413, f"request body over {self.max_body} bytes")
            else:
                raise

    def _refusal(self, scope: Scope, headers: dict[str, str], token_required: bool) -> tuple[int, str] | None:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return (413, f"request body over {self.max_body} bytes") if length.isdigit() else \
                (400, f"Content-Length={length!r} is not a byte count")
        host = _host_name(headers.get("host", ""))
        if not token_required and host.lower() not in _LOOPBACK_NAMES:
            return 421, (f"Host={headers.get('host', '')!r}: this server has no token and answers only to "
                         "loopback names (localhost, 127.0.0.1). Fix: use http://127.0.0.1:<port>/, or start the "
                         "server with --token")
        origin = headers.get("origin")
        if scope["method"] not in _SAFE_METHODS and origin is not None and urlsplit(origin).netloc != \
                headers.get("host", ""):
            return 403, f"Origin={origin!r}: a request from another site may not change anything here"
        return None


def _presented(scope: Scope, headers: dict[str, str]) -> str:
    given = headers.get("authorization", "")
    if given.lower().startswith("bearer "):
        return given[7:]
    return parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]


async def _reply(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error, "detail": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())]})
    await send({"type": "http.response.body", "body": body})
