"""The web UI's files, served so that a browser never runs an old copy after runyard is upgraded or a file is edited,
and never asks again for a copy it has. index.html names every file with its content's hash (`/static/x.js?v=...`,
and an import map for the modules' own imports of each other); an answer at the current hash may be kept for a year
(immutable), index.html and any other address are revalidated each time (no-cache, with an ETag). Left to a
browser's heuristics (StaticFiles sends no Cache-Control), a wheel's files, dated at its build, were taken as fresh
for days after an upgrade: the old UI called the new API."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from runyard.server.security import content_security_policy

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
IMPORT_MAP_MARK = "<!-- runyard:importmap -->"
_STATIC_URL = re.compile(r'(href|src)="/static/([^"?#]+)"')
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str  # the first 16 hex digits of the body's sha256: its ETag, and its ?v= in index.html
    mtime_ns: int
    size: int
    inline_script_sha256: tuple[str, ...] = ()  # base64 digests of its inline scripts, for its CSP


    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _media_type(path: Path) -> str:
    kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return kind + "; charset=utf-8" if kind.startswith("text/") else kind


class StaticAssets:
    """The files under `root`, read once and again only when a file changes (its mtime or size)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._assets: dict[str, Asset] = {}
        self._index: tuple[tuple[str, ...], Asset] | None = None  # index.html as last written, for these versions

    def get(self, path: str) -> Asset | None:
        """The file at `path` (relative to root), or None when there is none (or it lies outside root)."""
        known = self._assets.get(path)  # only ever a path found inside root
        if known is not None:
            try:
                stat = (self.root / path).stat()
            except OSError:
                stat = None
            if stat is not None and (known.mtime_ns, known.size) == (stat.st_mtime_ns, stat.st_size):
                return known
        file = (self.root / path).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            return None
        stat = file.stat()
        body = file.read_bytes()
        asset = Asset(body, _media_type(file), hashlib.sha256(body).hexdigest()[:16], stat.st_mtime_ns, stat.st_size)
        self._assets[path] = asset  # one dict store: a request thread never sees half an entry
        return asset

    def versioned(self, path: str) -> str:
        """`/static/<path>?v=<its hash>` (without ?v= when there is no such file: its 404 says so)."""
        asset = self.get(path)
        return f"/static/{path}" + (f"?v={asset.version}" if asset else "")

    def index(self) -> Asset:
        """index.html with every /static/ address versioned and the import map of the modules in place."""
        page = self.get("index.html")
        if page is None:
            raise FileNotFoundError(self.root / "index.html")
        modules = sorted(p.relative_to(self.root).as_posix() for p in (self.root / "js").glob("*.js"))
        named = sorted(set(modules) | {m[2] for m in _STATIC_URL.finditer(page.body.decode())})
        versions = (page.version, *(self.versioned(path) for path in named))
        if self._index is not None and self._index[0] == versions:
            return self._index[1]
        import_map = json.dumps({"imports": {f"/static/{m}": self.versioned(m) for m in modules}}, indent=1)
        text = _STATIC_URL.sub(lambda m: f'{m[1]}="{self.versioned(m[2])}"', page.body.decode())
        script = f"\n{import_map}\n"
        text = text.replace(IMPORT_MAP_MARK, f'<script type="importmap">{script}</script>')
        body = text.encode()
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        index = Asset(body, page.media_type, hashlib.sha256(body).hexdigest()[:16], page.mtime_ns, len(body), (digest,))
        self._index = (versions, index)
        return index


def _answer(request: Request, asset: Asset, cache: str) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache}
    if asset.inline_script_sha256:
        headers["Content-Security-Policy"] = content_security_policy(*asset.inline_script_sha256)
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def build_static_router(root: Path) -> APIRouter:
    """`/` (index.html) and `/static/...`. Async handlers: a file is stat'ed and, once read, served from memory,
    so a request thread is not worth its hand-over (the page asks for ~25 files at once)."""
    assets = StaticAssets(root)
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index(request: Request) -> Response:
        return _answer(request, assets.index(), REVALIDATE)

    @router.get("/static/{path:path}")
    async def static(request: Request, path: str, v: str | None = None) -> Response:
        asset = assets.get(path)
        if asset is None:
            raise HTTPException(404, f"the web UI has no file {path!r}")
        return _answer(request, asset, IMMUTABLE if v == asset.version else REVALIDATE)

    return router
