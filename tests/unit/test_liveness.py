"""A live supervisor is judged by when it started in clock ticks, which a stepped wall clock does not move."""

import os
import subprocess
import sys

import psutil

from runyard.launch.procs import process_alive, start_ticks


def test_a_process_stays_alive_when_the_wall_clock_is_stepped_and_a_recycled_pid_does_not():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ticks, created = start_ticks(child.pid), psutil.Process(child.pid).create_time()
        assert ticks is not None and process_alive(child.pid, created, ticks)
        # the clock stepped by 5 minutes since it was recorded: psutil's create_time moves, the ticks do not
        assert process_alive(child.pid, created - 300, ticks)
        assert not process_alive(child.pid, created, ticks + 1)  # another process under the same pid
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid, created, ticks)
    assert start_ticks(os.getpid()) is not None
