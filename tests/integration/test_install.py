"""runyard installed as a user installs it into their own environment: the wheel built from this tree, with
the server extra, into a fresh venv outside the clone; a job and the web UI run from there, importing nothing
from the clone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.web import free_port

pytestmark = pytest.mark.integration


def _uv() -> str:
    return os.path.join(os.path.dirname(sys.executable), "uv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, the folder a user works in): the built wheel installed with [server]."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(dist), str(ROOT)], check=True, timeout=300)
    wheel = next(dist.glob("runyard-*.whl"))
    venv = tmp_path_factory.mktemp("user-env") / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(python), f"{wheel}[server]"], check=True,
                   timeout=600)
    home = tmp_path_factory.mktemp("my-project")
    (home / "train.py").write_text("from runyard import Run\nrun = Run.get_context()\n"
                                   "for s in range(3):\n    run.log('loss', 1 / (s + 1), step=s)\nprint('trained')\n")
    return python, home


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUNYARD_WORKSPACE", "VIRTUAL_ENV")}
    return env


def test_the_wheel_installs_outside_the_clone_and_runs_a_job(installed):
    python, home = installed
    where = subprocess.run([str(python), "-c", "import runyard; print(runyard.__file__)"], cwd=home,
                           capture_output=True, text=True, env=_clean_env(), check=True).stdout.strip()
    assert str(ROOT) not in where and "site-packages" in where, where
    runyard = python.parent / "runyard"
    done = subprocess.run([str(runyard), "submit", "train.py", "--wait"], cwd=home, capture_output=True, text=True,
                          env=_clean_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained" in done.stdout and "Completed" in done.stdout
    assert "created workspace" in done.stderr and str(home / ".runyard") in done.stderr  # said where runs go
    listing = subprocess.run([str(runyard), "runs"], cwd=home, capture_output=True, text=True, env=_clean_env(),
                             check=True).stdout
    assert listing.splitlines()[0].endswith(f"({home / '.runyard'})")


def test_the_installed_ui_serves_its_pages_and_modules(installed):
    python, home = installed
    port = free_port()
    proc = subprocess.Popen([str(python.parent / "runyard"), "ui", "--port", str(port)], cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_clean_env())
    try:
        deadline = time.time() + 60
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.poll() is not None else "no answer")
                time.sleep(0.2)
        assert "/static/js/main.js" in page
        for module in ("main.js", "run-charts.js", "compare.js"):
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/{module}", timeout=5).read()
            assert b"import" in body or b"export" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
