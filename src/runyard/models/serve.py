"""The scoring process of a local web service: `python -m runyard.models.serve SERVICE_DIR PORT`.

It imports the entry script, calls its init() once (AZUREML_MODEL_DIR points at the model files), then
answers POST /score by calling run(raw_json_string) and returning its result as JSON; GET / is the health
check. A service deployed with auth_enabled wants `Authorization: Bearer <key>` on /score. A script error becomes a 500 with
the error's message only (its traceback goes to the service's log, `service.get_logs()`: no server paths
reach the caller), and the process keeps serving.
"""

from __future__ import annotations

import hmac
import importlib.util
import json
import logging
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 64 << 20
_log = logging.getLogger(__name__)


def load_entry(path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("score", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_handler(module: Any, key: str | None = None, instance: str = "") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            # the instance id lets the deployer tell this process from another server on the same port
            self._reply(200, {"status": "Healthy", "instance": instance})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/score":
                self._reply(404, {"error": f"no such endpoint {self.path}; POST /score"})
                return
            given = self.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if key is not None and not hmac.compare_digest(given, f"Bearer {key}".encode()):
                self._reply(401, {"error": "this service needs 'Authorization: Bearer <key>' (service.get_keys())"})
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None or not length_header.strip().isdigit():
                self._reply(411 if length_header is None else 400,
                            {"error": f"Content-Length={length_header!r}: send the body's length in bytes"})
                return
            length = int(length_header)
            if length > MAX_BODY:
                self._reply(413, {"error": f"request body over {MAX_BODY} bytes"})
                return
            try:
                raw = self.rfile.read(length).decode("utf-8")
            except UnicodeDecodeError as e:
                self._reply(400, {"error": f"the body is not UTF-8 text ({e}); send JSON"})
                return
            try:
                result = module.run(raw)
                json.dumps(result)
            except Exception as e:  # noqa: BLE001 - the script's own error, whatever it is
                _log.error("run() failed:\n%s", traceback.format_exc())
                self._reply(500, {"error": f"{type(e).__name__}: {e}",
                                  "detail": "the traceback is in the service's log: service.get_logs()"})
                return
            self._reply(200, result)

        def log_message(self, fmt: str, *args: Any) -> None:
            _log.info("%s %s", self.address_string(), fmt % args)

    return Handler


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s", force=True)  # the service's log
    service_dir, port = Path(argv[1]), int(argv[2])
    config = json.loads((service_dir / "service.json").read_text())
    module = load_entry(service_dir / "source" / config["entry_script"])
    if hasattr(module, "init"):
        module.init()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(module, config.get("key"),
                                                                   config.get("instance", "")))
    _log.info("scoring on http://127.0.0.1:%d/score", port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
