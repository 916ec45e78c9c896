"""Where `runyard ui` serves by default, and the UI's address of one run (the service's portal URL)."""

from __future__ import annotations

from urllib.parse import quote

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def base_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}/"


def run_page_url(run_id: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    return f"{base_url(host, port)}#/run/{quote(run_id, safe='')}"
