"""A real `runyard server` on loopback and Debian's Chromium driven by Playwright, for the UI tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start_server(workspace: Any, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`runyard server` for a workspace (or a workspace folder's path) on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runyard.cli.main", "-w", str(getattr(workspace, "path", workspace)),
                             "server", "--port", str(port), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(base + "/openapi.json", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(proc.stdout.read().decode())


@contextmanager
def browser_page(tmp_path: Path, **context: Any) -> Iterator[Any]:
    """A page in a fresh Chromium profile (a new user-data-dir each time)."""
    import pytest

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                       args=FLAGS, headless=True, **context)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@contextmanager
def served_page(workspace: Any, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(base URL, page): the workspace served on loopback, and a browser page to look at it."""
    proc, base = start_server(workspace)
    try:
        with browser_page(tmp_path, viewport={"width": 1280, "height": 900}) as page:
            yield base, page
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def live_loss_script(steps: int, pause: float) -> str:
    """A training script that logs `loss` every `pause` seconds for `steps` steps, flushing each point: a run a
    live page can follow."""
    return ("import time\nfrom runyard import Run\nrun = Run.get_context()\n"
            f"for step in range({steps}):\n    run.log('loss', 1.0 / (step + 1), step=step)\n"
            f"    run.flush()\n    time.sleep({pause})\n")
