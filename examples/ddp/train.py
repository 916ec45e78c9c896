"""A DistributedDataParallel training script that runs under any runyard layout (gloo, nccl or mpi).

It reads the torchrun contract (RANK, WORLD_SIZE, MASTER_ADDR, ...) through init_process_group's
env:// default, trains a small model on rank-specific data and writes each rank's final parameters
to ./outputs/rank_<r>.json, so a test can check every rank ended identical.
"""

import argparse
import json
import socket
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from runyard import Run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--fail_rank", type=int, default=-1)
    parser.add_argument("--fail_step", type=int, default=-1)
    parser.add_argument("--fail_first_attempt", action="store_true")
    args = parser.parse_args()

    use_cuda = torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "") != ""
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")
    attempt = int(os.environ.get("RUNYARD_ATTEMPT", "0"))
    print(f"rank {rank}/{world} node {os.environ.get('NODE_RANK')} local {os.environ.get('LOCAL_RANK')} "
          f"attempt {attempt} device {device}", flush=True)

    run = Run.get_context()
    torch.manual_seed(1234 + rank)  # each rank sees different data
    model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                                        torch.nn.Linear(32, 1)).to(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(args.steps):
        if rank == args.fail_rank and step == args.fail_step and (attempt == 0 or not args.fail_first_attempt):
            raise RuntimeError(f"rank {rank} failing on purpose at step {step}")
        x = torch.randn(64, 16, device=device)
        y = x.sum(dim=1, keepdim=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log("loss", loss, step=step)

    os.makedirs("outputs", exist_ok=True)
    params = [p.detach().cpu().flatten().tolist() for p in model.parameters()]
    with open(f"outputs/rank_{rank}.json", "w") as f:
        json.dump({"rank": rank, "world": world, "node_rank": int(os.environ.get("NODE_RANK", 0)),
                   "local_rank": int(os.environ.get("LOCAL_RANK", 0)), "attempt": attempt,
                   "ompi_rank": os.environ.get("OMPI_COMM_WORLD_RANK"), "host": socket.gethostname(),
                   "gloo_ifname": os.environ.get("GLOO_SOCKET_IFNAME"), "params": params}, f)
    # rank 0 hosts the rendezvous store: leaving before the others are done can abort them at exit
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
