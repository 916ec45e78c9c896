"""System metrics: one sampler per node in the node agent, stored apart from what the script logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runyard import Experiment
from runyard.train.dnn import PyTorch

pytestmark = pytest.mark.integration

# about 300 MB in the rank itself and 120 MB in a child process, one core kept busy meanwhile
HEAVY = """
import subprocess, sys, time
from runyard import Run
run = Run.get_context()
blob = bytearray(300 * 1024 * 1024)
child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(120 * 1024 * 1024); time.sleep(3.5)"])
end = time.time() + 3
while time.time() < end:
    sum(range(10000))
child.wait()
run.log("loss", 0.5)
"""
FAST = {"RUNYARD_SYSTEM_METRICS_WINDOW": "1"}  # 1-second aggregates, so a short run has several


def test_a_run_records_node_cpu_and_its_whole_process_trees_memory_apart_from_its_metrics(workspace, project):
    est = PyTorch(str(project("heavy.py", HEAVY)), entry_script="heavy.py", environment_variables=FAST)
    run = Experiment(workspace, "system").submit(est)
    run.wait_for_completion(raise_on_error=True)
    system = run.get_system_metrics()
    assert max(system["system/job_memory_rss_megabytes"]["node 0"]["max"]) >= 400  # the child's share counted
    assert max(system["system/rank_0_memory_rss_megabytes"]["node 0"]["max"]) >= 400
    assert max(system["system/cpu_utilization_percentage"]["node 0"]["max"]) > 20
    assert max(system["system/job_cpu_utilization_percentage"]["node 0"]["max"]) > 20
    for key in ("system/system_memory_usage_megabytes", "system/system_memory_usage_percentage",
                "system/disk_usage_percentage", "system/network_receive_megabytes", "system/sampler_cpu_seconds"):
        assert key in system, key
    series = system["system/cpu_utilization_percentage"]["node 0"]
    assert len(series["time"]) >= 2 and all(lo <= m <= hi for lo, m, hi in zip(series["min"], series["mean"],
                                                                              series["max"]))
    assert list(run.get_metrics()) == ["loss"]  # what the script logged, and nothing else
    cli = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "metrics", run.id,
                          "--system", "--json"], capture_output=True, text=True, timeout=60)
    assert json.loads(cli.stdout) == system
    table = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "metrics", run.id,
                            "--system"], capture_output=True, text=True, timeout=60).stdout
    assert "system/job_memory_rss_megabytes" in table


def test_switched_off_nothing_is_sampled_and_each_simulated_node_is_sampled_once(workspace, project):
    src = project("hello.py", "import os, time\ntime.sleep(1.5)\nprint('rank', os.environ['RANK'], 'pid', os.getpid())\n")
    off = Experiment(workspace, "system").submit(PyTorch(
        str(src), entry_script="hello.py", environment_variables={"RUNYARD_SYSTEM_METRICS": "0"}))
    off.wait_for_completion(raise_on_error=True)
    assert off.get_system_metrics() == {}
    assert not list((Path(off.get_details()["runFolder"]) / "spool").glob("system-*"))
    two = Experiment(workspace, "system").submit(PyTorch(
        str(src), entry_script="hello.py", node_count=2, distributed_backend="gloo", environment_variables=FAST))
    two.wait_for_completion(raise_on_error=True)
    system = two.get_system_metrics()
    assert sorted(system["system/job_memory_rss_megabytes"]) == ["node 0", "node 1"]
    # each node's job metrics are its own rank's: node 1 runs rank 1
    assert "system/rank_1_memory_rss_megabytes" in system and \
        list(system["system/rank_1_memory_rss_megabytes"]) == ["node 1"]
    # and each node says which rank was which process (and which GPUs it was given: none here)
    for node in (0, 1):
        layout = json.loads(two.get_properties()[f"runyard.system.node{node}"])
        log = (Path(two.get_details()["runFolder"]) / "user_logs" / f"std_log_rank_{node}.txt").read_text()
        assert layout["node"] == node and layout["ranks"] == {str(node): {"pid": int(log.split("pid")[1].split()[0]),
                                                                          "gpus": []}}
    shown = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "metrics", two.id,
                            "--system"], capture_output=True, text=True, timeout=60).stdout
    assert "rank 1: pid" in shown and "node 1" in shown


def test_system_lines_are_checked_before_they_are_stored() -> None:
    from runyard.tracking.ingest import parse_events, rank_of

    good = json.dumps(["system", "system/cpu_utilization_percentage", [50.0, 10, 90.5], None, 1.0, ""]).encode()
    bad = json.dumps(["system", "system/x", [1, "a", 2], None, 1.0, ""]).encode()
    rejected: list[str] = []
    events = parse_events(good + b"\n" + bad + b"\n", rank_of("system-3.123.jsonl"), rejected)
    assert [(e.kind, e.rank, e.value) for e in events] == [("system", 3, [50.0, 10, 90.5])]
    assert rejected == ["line 2: system metric 'system/x' is not [mean, min, max] of finite numbers"]


def test_the_run_page_draws_a_chart_per_system_metric_with_a_line_per_rank(workspace, project, tmp_path):
    from tests.web import SCREENSHOTS, served_page

    src = project("hello.py", "import time\ntime.sleep(2.5)\n")
    run = Experiment(workspace, "system").submit(PyTorch(
        str(src), entry_script="hello.py", process_count_per_node=2, distributed_backend="gloo",
        environment_variables=FAST))
    run.wait_for_completion(raise_on_error=True)
    with served_page(workspace, tmp_path) as (base, page):
        page.goto(f"{base}/#/run/{run.id}")
        page.wait_for_selector("#system .chart[data-metric='system/cpu_utilization_percentage']")
        ranks = page.wait_for_selector("#system .chart[data-metric='system/rank_memory_rss_megabytes']")
        assert "rank 0" in ranks.inner_text() and "rank 1" in ranks.inner_text()
        assert int(ranks.get_attribute("data-points")) >= 2
        page.screenshot(path=str(SCREENSHOTS / "system.png"), full_page=True)
