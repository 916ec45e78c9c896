"""DDP across two separate network hosts (scripts/hosts.sh namespaces) beside both ranks on one host, and the
time runyard takes to name a partitioned node.

    .venv/bin/python bench/hosts_ddp.py [--steps 300] [--repeats 3]

Each DDP measurement runs 2 gloo ranks of a small model for --steps steps and reports steps/s (median of the
repeats). The partition measurement starts a node agent's heartbeat listener on host 2, cuts host 2's link
(iptables in its namespace, as partition-node does) and times the supervisor's watch until it names the node.
Needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ["bash", str(ROOT / "scripts" / "hosts.sh")]
PREFIX = "rybench"
RANK = """
import os, sys, time, torch, torch.distributed as dist
dist.init_process_group("gloo", init_method=f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
                        rank=int(os.environ["RANK"]), world_size=2)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                                                      torch.nn.Linear(256, 1)))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
steps = int(sys.argv[1])
for step in range(steps + 20):
    if step == 20:
        dist.barrier(); started = time.perf_counter()
    x = torch.randn(32, 256)
    loss = model(x).pow(2).mean(); opt.zero_grad(); loss.backward(); opt.step()
dist.barrier()
if dist.get_rank() == 0:
    print(steps / (time.perf_counter() - started))
dist.destroy_process_group()
"""


def ddp(script: Path, steps: int, master: str, hosts: list[int] | None) -> float:
    """Steps/s of rank 0: each rank on its host (hosts.sh run) or both here."""
    procs = []
    for rank in range(2):
        env = {**os.environ, "MASTER_ADDR": master, "MASTER_PORT": "29731", "RANK": str(rank),
               "GLOO_SOCKET_IFNAME": "eth0" if hosts else "lo", "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(script), str(steps)]
        if hosts:
            command = [*HOSTS, "run", PREFIX, str(hosts[rank]), f"bench{rank}", *command]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    out = [p.communicate(timeout=600)[0] for p in procs]
    return float(out[0].strip().splitlines()[-1])


def partition_detection(tmp: Path) -> float:
    """Seconds from the cut to the watch naming the node."""
    import json

    from runyard.launch.network_watch import NetworkWatch

    spool = tmp / "spool"
    spool.mkdir(exist_ok=True)
    listener = subprocess.Popen([*HOSTS, "run", PREFIX, "2", "bench1", sys.executable, "-c",
                                 "import time\nfrom runyard.launch.network_watch import HeartbeatListener\n"
                                 "h = HeartbeatListener('0.0.0.0')\nprint(h.port, flush=True)\ntime.sleep(600)\n"],
                                stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                                        "PYTHONPATH": str(ROOT / "src")})
    port = int(listener.stdout.readline())  # type: ignore[union-attr]
    address = subprocess.run(["ip", "-n", f"{PREFIX}2", "-4", "-o", "addr", "show", "eth0"], capture_output=True,
                             text=True).stdout.split()[3].split("/")[0]
    line = ["property", "runyard.network.node1", json.dumps({"address": address, "heartbeatPort": port}), None,
            time.time(), ""]
    (spool / "network-1.1.jsonl").write_text(json.dumps(line) + "\n")
    watch = NetworkWatch(spool, time.time() - 5)
    assert watch.failure() is None, "the node answers before the cut"
    cut = ["ip", "netns", "exec", f"{PREFIX}2", "iptables", "-I", "INPUT", "1", "!", "-i", "lo", "-j", "DROP"]
    subprocess.run(cut, check=True)
    started = time.monotonic()
    try:
        while watch.failure() is None:
            time.sleep(0.1)
        return time.monotonic() - started
    finally:
        listener.kill()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    made = subprocess.run([*HOSTS, "up", PREFIX, "2"], capture_output=True, text=True, check=True).stdout
    first = made.split("hosts=")[1].split(",")[0].strip()
    tmp = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        script = tmp / "rank.py"
        script.write_text(RANK)
        os.environ["RUNYARD_HOSTS_SHARED"] = str(tmp)
        one = [ddp(script, args.steps, "127.0.0.1", None) for _ in range(args.repeats)]
        two = [ddp(script, args.steps, first, [1, 2]) for _ in range(args.repeats)]
        print(f"DDP, 2 gloo ranks, {args.steps} steps, median of {args.repeats}:")
        print(f"  both ranks on one host      {statistics.median(one):8.1f} steps/s  {[round(v) for v in one]}")
        print(f"  one rank on each of 2 hosts {statistics.median(two):8.1f} steps/s  {[round(v) for v in two]}")
        print(f"  ratio (two hosts / one)     {statistics.median(two) / statistics.median(one):8.2f}")
        print(f"partition of a node named after {partition_detection(tmp):.1f} s (goal: within 30 s)")
    finally:
        subprocess.run([*HOSTS, "down", PREFIX], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
