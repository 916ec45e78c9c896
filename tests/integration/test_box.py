"""The local target as a shared box: real supervisors queue in the workspace's ledger, ranks see the GPUs
(by UUID) and cores they were granted, queued runs say why, and the next run starts when the first ends.

GPUs are stood in at their boundary (tests/fake_gpus.py: an nvidia-smi that answers a list of UUIDs); CPU
slots are real cores (each rank's affinity is read from inside the rank)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runyard import Experiment, Run
from runyard.compute.base import ComputeTarget
from runyard.errors import ComputeTargetException
from runyard.train.dnn import PyTorch
from tests.fake_gpus import install
from tests.waiting import eventually as wait_for

pytestmark = pytest.mark.integration

# each rank records what it was given and when it ran; it holds until its gate file exists (if it was given one)
HOLDER = """
import json, os, sys, time
from pathlib import Path
start = time.time()
gate = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "-" else None
while gate is not None and not gate.exists():
    time.sleep(0.02)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
Path("outputs").mkdir(exist_ok=True)
names = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "LOCAL_RANK", "RANK", "OMP_NUM_THREADS")
Path("outputs", f"rank_{os.environ.get('RANK', '0')}.json").write_text(json.dumps({
    "start": start, "end": time.time(), "env": {k: os.environ.get(k) for k in names},
    "affinity": sorted(os.sched_getaffinity(0))}))
"""


def rank_report(run: Run, rank: int = 0) -> dict:
    return json.loads((Path(run.get_details()["runFolder"]) / "wd" / "outputs" / f"rank_{rank}.json").read_text())


def holder(project, workspace, gate: Path | str = "-", hold: float = 0.0, **kwargs) -> Run:
    src = project("hold.py", HOLDER)
    est = PyTorch(source_directory=str(src), entry_script="hold.py", **kwargs)
    est.arguments = [str(gate), str(hold)]
    return Experiment(workspace, "box").submit(est)


def status_detail(run: Run) -> str:
    return run.get_details().get("statusDetail", "")


def test_a_cpu_slot_limit_queues_the_next_run_says_why_and_starts_it_when_the_first_ends(workspace, project,
                                                                                         tmp_path):
    ComputeTarget(workspace, "local").update(cpus=1)
    gate = tmp_path / "release-first"
    first = holder(project, workspace, gate)
    wait_for(lambda: first.get_status() == "Running", "the first run to start")
    second = holder(project, workspace)
    reason = wait_for(lambda: status_detail(second), "the second run's reason")
    assert second.get_status() == "Queued"
    assert reason == f"waiting for 1 CPU slot (limit 1: runs {first.id} ({first.get_details()['submittedBy']}))"
    listing = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "runs"],
                             capture_output=True, text=True, timeout=60)
    assert f"{second.id} Queued: waiting for 1 CPU slot" in listing.stdout.replace("\n", " ")
    gate.touch()
    second.wait_for_completion(raise_on_error=True)
    first_rank, second_rank = rank_report(first), rank_report(second)
    assert second_rank["start"] >= first_rank["end"]  # never both at once on one slot
    assert len(first_rank["affinity"]) == 1 and len(second_rank["affinity"]) == 1  # pinned to its one core
    assert first_rank["env"]["OMP_NUM_THREADS"] == "1"
    allocation = json.loads(second.get_details()["properties"]["runyard.allocation"])
    assert allocation["cores"] == second_rank["affinity"] and allocation["queuedSeconds"] > 0


def test_gpu_runs_get_whole_gpus_by_uuid_and_wait_for_them_while_cpu_runs_go_on(workspace, project, tmp_path,
                                                                                monkeypatch):
    fake = install(tmp_path, monkeypatch, 2)
    gate = tmp_path / "release"
    pair = holder(project, workspace, gate, process_count_per_node=2, distributed_backend="gloo", use_gpu=True)
    wait_for(lambda: pair.get_status() == "Running", "the two-GPU run to start")
    single = holder(project, workspace, use_gpu=True)
    owner = pair.get_details()["submittedBy"]
    reason = wait_for(lambda: status_detail(single), "the one-GPU run's reason")
    assert reason == f"waiting for 1 GPU; GPU 0, GPU 1 held by run {pair.id} ({owner})"
    cpu_run = holder(project, workspace)  # no GPU asked for: it starts at once, and sees no GPU
    cpu_run.wait_for_completion(raise_on_error=True)
    assert single.get_status() == "Queued"
    assert rank_report(cpu_run)["env"]["CUDA_VISIBLE_DEVICES"] == ""
    gate.touch()
    single.wait_for_completion(raise_on_error=True)
    pair.wait_for_completion(raise_on_error=True)
    ranks = [rank_report(pair, 0), rank_report(pair, 1)]
    assert sorted(r["env"]["CUDA_VISIBLE_DEVICES"] for r in ranks) == fake.uuids  # a whole GPU each, by UUID
    assert [r["env"]["LOCAL_RANK"] for r in ranks] == ["0", "1"]
    assert {r["env"]["CUDA_DEVICE_ORDER"] for r in ranks} == {"PCI_BUS_ID"}
    assert rank_report(single)["env"]["CUDA_VISIBLE_DEVICES"] in fake.uuids
    assert rank_report(single)["start"] >= max(r["end"] for r in ranks)


def test_a_run_that_can_never_fit_is_refused_at_submit_and_nothing_is_recorded(workspace, project, tmp_path,
                                                                               monkeypatch):
    install(tmp_path, monkeypatch, 2)
    src = project("hold.py", HOLDER)
    exp = Experiment(workspace, "box")
    with pytest.raises(ComputeTargetException, match=r"takes 4 GPUs .* has 2\. Fix: pass process_count_per_node<=2"):
        exp.submit(PyTorch(source_directory=str(src), entry_script="hold.py", process_count_per_node=4,
                           distributed_backend="nccl", use_gpu=True))
    ComputeTarget(workspace, "local").update(cpus=1, memory="1G")
    with pytest.raises(ComputeTargetException, match=r"take 2 CPU slots.*limited to 1\. Fix:.*--cpus 2"):
        exp.submit(PyTorch(source_directory=str(src), entry_script="hold.py", process_count_per_node=2,
                           distributed_backend="gloo"))
    with pytest.raises(ComputeTargetException, match=r"memory=2048 MB.*limited to 1024 MB"):
        exp.submit(PyTorch(source_directory=str(src), entry_script="hold.py", memory="2G"))
    cli = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "submit", "hold.py",
                          "--source-dir", str(src), "--gpus", "3", "--backend", "nccl"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "takes 3 GPUs" in cli.stderr
    assert workspace.backend.list_runs() == [] and not list((workspace.path / "runs").glob("*"))


def test_priority_then_owners_take_turns_and_cancelling_a_queued_run_is_immediate(workspace, project, tmp_path):
    ComputeTarget(workspace, "local").update(max_concurrent_runs=1)
    gate = tmp_path / "release"
    blocker = holder(project, workspace, gate)
    wait_for(lambda: blocker.get_status() == "Running", "the blocker to start")
    src = project("hold.py", HOLDER)

    def submit(owner: str, *extra: str) -> str:
        out = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "submit", "hold.py",
                              "--source-dir", str(src), "--json", *extra], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "RUNYARD_OWNER": owner})
        assert out.returncode == 0, out.stderr
        run_id = json.loads(out.stdout)["runId"]
        wait_for(lambda: status_detail(Run.get(workspace, run_id)), f"{run_id} to be queued")
        return run_id

    alice = [submit("alice") for _ in range(3)]
    bob = submit("bob")
    late = submit("carol")
    urgent = submit("dave", "--priority", "5")
    canceled = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "cancel", late],
                              capture_output=True, text=True, timeout=60)
    assert canceled.returncode == 0 and Run.get(workspace, late).get_status() == "Canceled"
    assert blocker.get_status() == "Running"  # it stopped waiting at once: no run had to end first
    moved = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "priority",
                            alice[2], "3"], capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0, moved.stderr
    box = json.loads(subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "compute",
                                     "list", "--json"], capture_output=True, text=True, timeout=60).stdout)
    queue = [q["runId"] for q in next(t for t in box if t["name"] == "local")["box"]["queue"]]
    assert queue == [urgent, alice[2], alice[0], bob, alice[1]]  # bob's turn comes before alice's second
    gate.touch()
    runs = {r: Run.get(workspace, r) for r in queue}
    for run in runs.values():
        run.wait_for_completion(raise_on_error=True)
    started_order = sorted(runs, key=lambda r: rank_report(runs[r])["start"])
    assert started_order == queue  # one at a time, in the order the queue showed


def test_a_killed_supervisor_gives_back_what_it_held(workspace, project, tmp_path):
    ComputeTarget(workspace, "local").update(cpus=1)
    first = holder(project, workspace, tmp_path / "never")
    wait_for(lambda: first.get_status() == "Running", "the first run to start")
    second = holder(project, workspace)
    wait_for(lambda: status_detail(second), "the second run to queue")
    supervisor = json.loads((Path(first.get_details()["runFolder"]) / "supervisor.json").read_text())
    os.kill(supervisor["pid"], signal.SIGKILL)  # its ranks die with it (PDEATHSIG)
    second.wait_for_completion(raise_on_error=True)  # its next look finds the holder gone
    assert first.get_status() == "Failed"


def test_forty_runs_from_four_processes_never_share_a_gpu(workspace, project, tmp_path, monkeypatch):
    fake = install(tmp_path, monkeypatch, 4)
    src = project("hold.py", HOLDER)
    submitter = f"""
import sys
from runyard import Workspace, Experiment
from runyard.train.dnn import PyTorch
ws = Workspace({str(workspace.path)!r})
for i in range(10):
    est = PyTorch(source_directory={str(src)!r}, entry_script="hold.py", use_gpu=True)
    est.arguments = ["-", "0.2"]
    print(Experiment(ws, "stress").submit(est).id, flush=True)
"""
    procs = [subprocess.Popen([sys.executable, "-c", submitter], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    run_ids = [line.strip() for p in procs for line in p.communicate(timeout=300)[0].splitlines()]
    assert all(p.returncode == 0 for p in procs) and len(run_ids) == 40
    reports = []
    for run_id in run_ids:
        run = Run.get(workspace, run_id)
        run.wait_for_completion(raise_on_error=True)
        reports.append(rank_report(run))
    by_gpu: dict[str, list[tuple[float, float]]] = {}
    for r in reports:
        by_gpu.setdefault(r["env"]["CUDA_VISIBLE_DEVICES"], []).append((r["start"], r["end"]))
    assert set(by_gpu) <= set(fake.uuids)
    for uuid, spans in by_gpu.items():
        spans.sort()
        overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
        assert not overlaps, f"{uuid} was held by two runs at once: {overlaps}"


def test_through_a_server_a_token_changes_only_the_runs_its_owner_submitted(workspace, project, tmp_path):
    from runyard import Workspace
    from runyard.errors import RunyardError
    from tests.web import get, start_server

    def token(name: str, *extra: str) -> str:
        made = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "token", "create",
                               name, *extra], capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    ComputeTarget(workspace, "local").update(max_concurrent_runs=1)
    alice, bob, ops = token("alice"), token("bob"), token("ops", "--admin")
    server, url = start_server(workspace)
    try:
        wait_for(lambda: get(url + "/api/v1/runs")[0] == 401, "the server to require tokens")
        gate = tmp_path / "release"
        as_alice, as_bob, as_ops = (Workspace.connect(url, token=t) for t in (alice, bob, ops))
        blocker = holder(project, as_alice, gate)
        wait_for(lambda: blocker.get_status() == "Running", "alice's first run to start")
        queued = holder(project, as_alice)
        wait_for(lambda: status_detail(queued), "alice's second run to queue")
        with pytest.raises(RunyardError, match=r"403.*token 'bob' may cancel, reprioritise or rerun only the runs "
                                               r"it submitted; this run was submitted by 'alice'"):
            Run.get(as_bob, queued.id).cancel()
        with pytest.raises(RunyardError, match="403.*submitted by 'alice'"):
            Run.get(as_bob, queued.id).set_priority(9)
        queued.set_priority(5)  # her own run
        status, body = get(url + "/api/v1/box", token=bob)  # anyone may look at the box
        box = json.loads(body)
        assert status == 200 and [q["runId"] for q in box["queue"]] == [queued.id]
        assert box["queue"][0]["priority"] == 5 and box["queue"][0]["owner"] == "alice"
        assert [r["runId"] for r in box["running"]] == [blocker.id]
        Run.get(as_ops, queued.id).cancel()  # an admin token may change anyone's run
        assert queued.get_status() == "Canceled" and blocker.get_status() == "Running"
        gate.touch()
        blocker.wait_for_completion(raise_on_error=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_ui_shows_each_gpu_its_holder_the_queue_and_the_reason(workspace, project, tmp_path, monkeypatch):
    from tests.web import SCREENSHOTS, served_page

    fake = install(tmp_path, monkeypatch, 2)
    gate = tmp_path / "release"
    pair = holder(project, workspace, gate, process_count_per_node=2, distributed_backend="gloo", use_gpu=True)
    wait_for(lambda: pair.get_status() == "Running", "the two-GPU run to start")
    waiting = holder(project, workspace, use_gpu=True)
    reason = wait_for(lambda: status_detail(waiting), "the queued run's reason")
    try:
        with served_page(workspace, tmp_path) as (base, page):
            page.goto(base + "/#/box")
            page.wait_for_selector("#box-queue td.why-cell")
            gpus = page.inner_text("#box-gpus")
            assert fake.uuids[0] in gpus and fake.uuids[1] in gpus and gpus.count(pair.id) == 2
            assert waiting.id in page.inner_text("#box-queue") and reason in page.inner_text("#box-queue")
            page.screenshot(path=str(SCREENSHOTS / "box.png"), full_page=True)
            page.goto(base + "/#/")
            row = page.wait_for_selector(f"tr[data-run='{waiting.id}'] .why")
            assert row.get_attribute("title") == reason
    finally:
        gate.touch()
    waiting.wait_for_completion(raise_on_error=True)


def test_sweep_trials_go_through_the_box_queue_with_max_concurrent_runs_on_top(workspace, project, tmp_path,
                                                                              monkeypatch):
    from runyard.train.hyperdrive import GridParameterSampling, HyperDriveConfig, choice

    fake = install(tmp_path, monkeypatch, 2)
    est = PyTorch(str(project("hold.py", HOLDER)), entry_script="hold.py", use_gpu=True)
    est.arguments = ["-", "0.3"]
    config = HyperDriveConfig(GridParameterSampling({"--lr": choice(1, 2, 3, 4)}), "accuracy", "MAXIMIZE",
                              max_total_runs=4, max_concurrent_runs=4, estimator=est)
    sweep = Experiment(workspace, "sweep").submit(config)
    sweep.wait_for_completion()
    children = sweep.get_children()
    reports = [rank_report(c) for c in children]
    assert len(reports) == 4 and {r["env"]["CUDA_VISIBLE_DEVICES"] for r in reports} == set(fake.uuids)
    for r in reports:  # two GPUs: at no moment did more than two trials run, whatever the sweep allowed
        assert sum(1 for o in reports if o["start"] <= r["start"] < o["end"]) <= 2
    waited = [json.loads(c.get_details()["properties"]["runyard.allocation"])["queuedSeconds"] for c in children]
    assert sum(1 for w in waited if w > 0.2) >= 2  # two trials waited in the box's queue for a GPU


def test_a_gpu_another_program_uses_is_passed_over_until_allowed(workspace, project, tmp_path, monkeypatch):
    fake = install(tmp_path, monkeypatch, 2)
    fake.used_by(fake.uuids[0], [os.getpid()])  # this test process stands in for someone's notebook on GPU 0
    gate = tmp_path / "release"
    first = holder(project, workspace, gate, use_gpu=True)
    wait_for(lambda: first.get_status() == "Running", "the first run to start")
    second = holder(project, workspace, use_gpu=True)
    reason = wait_for(lambda: status_detail(second), "the second run's reason")
    assert f"GPU 0 used by a process runyard did not start (pid {os.getpid()}" in reason
    assert f"GPU 1 held by run {first.id}" in reason
    ComputeTarget(workspace, "local").update(foreign_gpus="ignore")  # waiting runs look again at once
    second.wait_for_completion(raise_on_error=True)
    assert rank_report(second)["env"]["CUDA_VISIBLE_DEVICES"] == fake.uuids[0]
    gate.touch()
    first.wait_for_completion(raise_on_error=True)
    assert rank_report(first)["env"]["CUDA_VISIBLE_DEVICES"] == fake.uuids[1]
