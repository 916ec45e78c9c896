"""The HTTP client of a runyard server: JSON in and out, bearer token, errors as runyard errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from runyard.errors import RunyardError, WorkspaceError

API_VERSION = 1


class Http:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                query: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
        url = f"{self.url}/api/v1{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/octet-stream" if raw is not None else "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), dict(response.headers)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("detail") or json.loads(detail).get("error") or detail
            except ValueError:
                pass
            raise RunyardError(f"{method} {path}: the server answered {e.code}: {detail}") from None
        except OSError as e:
            raise WorkspaceError(f"cannot reach the runyard server at {self.url}: {e}. "
                                 "Fix: start it (runyard server) or check the URL") from None

    def json(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        data, _ = self.request(method, path, body, query={k: v for k, v in query.items() if v is not None} or None)
        return json.loads(data)
