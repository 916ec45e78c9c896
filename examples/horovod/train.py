"""Horovod under runyard's 'mpi' backend, as in the seed document: ranks started by mpirun.

Each rank computes a different gradient; hvd.DistributedOptimizer averages them with ring-allreduce,
so every rank applies the same update. Each rank writes what it saw to ./outputs/rank_<r>.json.
"""

import json
import os

import horovod.torch as hvd
import torch

from runyard import Run


def main() -> None:
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    run = Run.get_context()
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=1.0), named_parameters=[("weight", weight)])
    hvd.broadcast_parameters({"weight": weight}, root_rank=0)

    optimizer.zero_grad()
    (weight * float(rank + 1)).sum().backward()  # rank r's own gradient is r+1 everywhere
    optimizer.synchronize()
    averaged = weight.grad.tolist()
    with optimizer.skip_synchronize():
        optimizer.step()
    run.log("averaged_gradient", averaged[0])
    print(f"horovod rank {rank}/{size} local {hvd.local_rank()}: averaged gradient {averaged}", flush=True)
    os.makedirs("outputs", exist_ok=True)
    with open(f"outputs/rank_{rank}.json", "w") as f:
        json.dump({"rank": rank, "size": size, "averaged_gradient": averaged, "weight": weight.tolist()}, f)


if __name__ == "__main__":
    main()
