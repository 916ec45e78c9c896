"""The README's demo job, end to end, as a user runs it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_digits_demo_reaches_095_in_under_a_minute(tmp_path: Path):
    done = subprocess.run([sys.executable, str(ROOT / "examples/digits/run_demo.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "epoch   0" in out and "Execution Summary" in out and "Status: Completed" in out
    assert "outputs/model.pt" in out and "runyard show digits_" in out
    accuracy = float(re.search(r"final validation accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95
    running = float(re.search(r"Duration: ([0-9.]+) s running", out).group(1))
    assert running < 60
    assert (tmp_path / ".runyard" / "runyard.db").exists()  # the embedded default workspace
