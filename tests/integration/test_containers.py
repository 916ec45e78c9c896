"""Runs in containers, for real: Podman on this machine, a Debian image made without any registry
(scripts/container_image.sh), Podman's storage in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runyard import Experiment, Run
from runyard.core import Environment, ScriptRunConfig
from runyard.core.runconfig import DockerConfiguration
from runyard.errors import ComputeTargetException
from runyard.train.dnn import PyTorch
from tests.conftest import IMAGE, PODMAN
from tests.waiting import eventually

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("podman") is None or shutil.which("mmdebstrap") is None,
                                 reason="Podman and mmdebstrap are not installed (scripts/setup.sh installs them)")]
# what a rank saw: the image's marker file, its interpreter, the variables it was given, /dev/shm's size
SEEN = """
import json, os, sys
from runyard import Run
run = Run.get_context()
for step in range(3):
    run.log("loss", 1.0 / (step + 1))
os.makedirs("outputs", exist_ok=True)
shm = os.statvfs("/dev/shm")
seen = {"image": open("/etc/runyard-image").read().strip() if os.path.exists("/etc/runyard-image") else None,
        "built": open("/etc/built").read().strip() if os.path.exists("/etc/built") else None,
        "python": sys.executable, "rank": os.environ.get("RANK"), "mine": os.environ.get("MY_SETTING"),
        "host_only": os.environ.get("HOST_ONLY_SETTING"), "shm_mb": shm.f_blocks * shm.f_frsize // 2**20,
        "args": sys.argv[1:], "cwd": os.getcwd()}
json.dump(seen, open(f"outputs/seen_{os.environ.get('RANK', '0')}.json", "w"))
if os.environ.get("HOLD_MB"):  # memory held inside the container while its node's sampler looks
    import time
    blob = bytearray(int(os.environ["HOLD_MB"]) * 2**20)
    time.sleep(2.5)
"""


def seen(run: Run, rank: int = 0) -> dict:
    return json.loads((Path(run.get_details()["runFolder"]) / "wd" / "outputs" / f"seen_{rank}.json").read_text())


def test_a_run_in_an_imported_image_logs_metrics_and_its_outputs_come_back(workspace, project, podman_storage,
                                                                          monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SETTING", "must not leak in")
    src = project("train.py", SEEN)
    est = PyTorch(str(src), entry_script="train.py", custom_docker_image=IMAGE, script_params={"--lr": 0.1},
                  environment_variables={"MY_SETTING": "given", "HOLD_MB": "160", "RUNYARD_SYSTEM_METRICS_WINDOW": "1"})
    run = Experiment(workspace, "containers").submit(est)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    inside = seen(run)
    assert inside["image"] == "runyard-test-image" and inside["python"] == "/usr/bin/python3"  # the image's own
    assert inside["mine"] == "given" and inside["host_only"] is None and inside["rank"] == "0"
    assert inside["args"] == ["--lr", "0.1"] and inside["shm_mb"] == 2048  # the service's default shm_size
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3]  # logged from inside, runyard not in the image
    output = Path(details["runFolder"]) / "wd" / "outputs" / "seen_0.json"
    assert output.stat().st_uid == os.getuid()  # the caller's file
    assert "outputs/seen_0.json" in run.get_file_names()
    container = json.loads(run.get_properties()["runyard.container"])
    assert container["image"] == IMAGE and container["runtime"] == "podman"
    # the node's sampler followed the processes inside the container, not the runtime's client
    rss = run.get_system_metrics("system/rank_0_memory_rss_megabytes")["system/rank_0_memory_rss_megabytes"]
    assert max(rss["node 0"]["max"]) >= 160
    leftover = subprocess.run([*PODMAN, "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True)
    assert run.id not in leftover.stdout  # its container went with it


def test_a_dockerfile_environment_is_built_once_and_reused_with_its_shm_size(workspace, project, podman_storage):
    src = project("train.py", SEEN)
    env = Environment.from_dockerfile("built", f"FROM {IMAGE}\nRUN echo built-by-dockerfile > /etc/built\n")
    config = ScriptRunConfig(str(src), "train.py", environment=env,
                             docker_runtime_config=DockerConfiguration(use_docker=True, shm_size="512m"))
    first = Experiment(workspace, "dockerfile").submit(config)
    assert first.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    second = Experiment(workspace, "dockerfile").submit(config)
    assert second.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert seen(first)["built"] == seen(second)["built"] == "built-by-dockerfile"
    assert seen(second)["shm_mb"] == 512
    tag = json.loads(first.get_properties()["runyard.container"])["image"]
    assert tag.startswith("localhost/runyard-env:") and json.loads(
        second.get_properties()["runyard.container"])["image"] == tag
    first_log = (Path(first.get_details()["runFolder"]) / "system_logs" / "prepare.txt").read_text()
    second_log = (Path(second.get_details()["runFolder"]) / "system_logs" / "prepare.txt").read_text()
    assert "building the Dockerfile" in first_log and "STEP" in first_log  # the build's own output, streamed
    assert "built before, reused" in second_log and "building" not in second_log
    # a changed Dockerfile is another image
    env.docker.base_dockerfile = f"FROM {IMAGE}\nRUN echo changed > /etc/built\n"
    third = Experiment(workspace, "dockerfile").submit(ScriptRunConfig(
        str(src), "train.py", environment=env, docker_runtime_config=DockerConfiguration(use_docker=True)))
    assert third.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert seen(third)["built"] == "changed" and seen(third)["shm_mb"] == 2048


def test_a_two_node_gloo_job_runs_in_containers(workspace, project, podman_storage):
    import torch

    site = str(Path(torch.__file__).parent.parent)  # the image has no torch: the host's is mounted in, read-only
    src = project("ddp.py", """
        import json, os, torch, torch.distributed as dist
        dist.init_process_group("gloo")
        t = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(t)
        os.makedirs("outputs", exist_ok=True)
        json.dump({"sum": t.item(), "image": open("/etc/runyard-image").read().strip(), "node": os.environ["NODE_RANK"]},
                  open(f"outputs/rank_{dist.get_rank()}.json", "w"))
        dist.destroy_process_group()
    """)
    env = Environment("with-host-torch")
    env.docker.base_image = IMAGE
    env.environment_variables = {"PYTHONPATH": "/opt/host-site"}
    config = ScriptRunConfig(str(src), "ddp.py", environment=env, docker_runtime_config=DockerConfiguration(
        use_docker=True, arguments=["--volume", f"{site}:/opt/host-site:ro"]))
    from runyard.core.runconfig import PyTorchConfiguration

    config.distributed_job_config = PyTorchConfiguration(communication_backend="Gloo", process_count=2, node_count=2)
    run = Experiment(workspace, "gloo").submit(config)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    reports = [json.loads((Path(details["runFolder"]) / "wd" / "outputs" / f"rank_{r}.json").read_text())
               for r in range(2)]
    assert [r["sum"] for r in reports] == [3.0, 3.0] and {r["image"] for r in reports} == {"runyard-test-image"}
    assert [r["node"] for r in reports] == ["0", "1"]


def test_cancel_during_an_image_build_stops_it_at_once(workspace, project, podman_storage):
    src = project("train.py", "print('never')\n")
    env = Environment.from_dockerfile("slow", f"FROM {IMAGE}\nRUN sleep 600\n")
    run = Experiment(workspace, "cancel-build").submit(ScriptRunConfig(str(src), "train.py", environment=env))
    prepare = Path(run.get_details()["runFolder"]) / "system_logs" / "prepare.txt"
    eventually(lambda: prepare.exists() and "building the Dockerfile" in prepare.read_text(), "the build to start")
    eventually(lambda: subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).returncode == 0,
               "the build's RUN step")
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    eventually(lambda: subprocess.run(["pgrep", "-f", "podman.* build "], capture_output=True).returncode != 0,
               "the build to be gone")


def test_without_a_runtime_the_run_is_refused_at_submit_naming_what_to_install(workspace, project, monkeypatch):
    monkeypatch.setenv("RUNYARD_CONTAINER_RUNTIME", "podman-not-installed-here")
    src = project("train.py", "print('never')\n")
    with pytest.raises(ComputeTargetException, match=r"'podman-not-installed-here' was not found on PATH: "
                                                     r"install Podman \(`apt-get install podman runc`"):
        Experiment(workspace, "none").submit(PyTorch(str(src), entry_script="train.py", custom_docker_image=IMAGE))
    assert list(Experiment(workspace, "none").get_runs()) == []


def test_an_image_that_cannot_be_had_fails_in_preparing_with_the_runtimes_message(workspace, project,
                                                                                   podman_storage):
    src = project("train.py", "print('never')\n")
    run = Experiment(workspace, "missing").submit(PyTorch(
        str(src), entry_script="train.py", custom_docker_image="localhost/no-such-image:1"))
    details = run.wait_for_completion(raise_on_error=False)
    message = details["error"]["error"]["message"]
    assert details["status"] == "Failed" and message.startswith("Preparing failed: the image 'localhost/no-such-image:1'")
    assert "podman pull exited" in message and ("localhost/no-such-image" in message.split("exited", 1)[1])


def test_the_dry_run_shows_the_container_command(workspace, project, podman_storage):
    src = project("train.py", "print('x')\n")
    shown = subprocess.run([sys.executable, "-m", "runyard.cli.main", "-w", str(workspace.path), "submit", "train.py",
                            "--source-dir", str(src), "--image", IMAGE, "--dry-run"], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "podman" in shown.stdout and "--shm-size 2g" in shown.stdout and IMAGE in shown.stdout
    assert list(Experiment(workspace, "default").get_runs()) == []


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI is not installed")
def test_a_two_rank_mpi_job_has_host_mpirun_start_a_container_per_rank(workspace, project, podman_storage):
    src = project("train.py", """
        import json, os
        from runyard import Run
        rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
        Run.get_context().log("rank", float(rank))
        os.makedirs("outputs", exist_ok=True)
        json.dump({"image": open("/etc/runyard-image").read().strip(), "rank": os.environ["RANK"],
                   "size": os.environ["OMPI_COMM_WORLD_SIZE"], "local": os.environ["LOCAL_RANK"]},
                  open(f"outputs/mpi_{rank}.json", "w"))
    """)
    run = Experiment(workspace, "mpi").submit(PyTorch(str(src), entry_script="train.py", process_count_per_node=2,
                                                      distributed_backend="mpi", custom_docker_image=IMAGE))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    seen = [json.loads((Path(details["runFolder"]) / "wd" / "outputs" / f"mpi_{r}.json").read_text()) for r in range(2)]
    assert seen == [{"image": "runyard-test-image", "rank": str(r), "size": "2", "local": str(r)} for r in range(2)]
    assert run.get_metrics(rank=1)["rank"] == 1.0


def test_pip_packages_go_into_an_image_built_once_and_a_user_managed_interpreter_is_the_images(
        workspace, project, podman_storage):
    src = project("train.py", SEEN + "import six\nprint('six', six.__version__)\n")
    env = Environment("with-six")
    env.docker.base_image = IMAGE
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    first = Experiment(workspace, "packages").submit(ScriptRunConfig(str(src), "train.py", environment=env))
    assert first.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    second = Experiment(workspace, "packages").submit(ScriptRunConfig(str(src), "train.py", environment=env))
    assert second.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert "six 1.16.0" in (Path(second.get_details()["runFolder"]) / "user_logs" / "std_log_rank_0.txt").read_text()
    image = json.loads(second.get_properties()["runyard.container"])["image"]
    assert image.startswith("localhost/runyard-env:") and image == json.loads(
        first.get_properties()["runyard.container"])["image"]
    assert "the packages six==1.16.0): built before, reused" in \
        (Path(second.get_details()["runFolder"]) / "system_logs" / "prepare.txt").read_text()
    managed = Environment("managed")
    managed.docker.base_image = IMAGE
    managed.python.user_managed_dependencies = True
    managed.python.interpreter_path = "/usr/bin/python3.11"
    own = Experiment(workspace, "packages").submit(ScriptRunConfig(str(project("plain.py", SEEN)), "plain.py",
                                                                   environment=managed))
    assert own.wait_for_completion(raise_on_error=False)["status"] == "Completed"
    assert seen(own)["python"] == "/usr/bin/python3.11"
