"""Train a small classifier on scikit-learn's 8x8 digits (bundled with scikit-learn: no download).

Runs under runyard (metrics tracked) or by itself (`python train.py --data_dir DIR`, metrics printed).
"""

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from runyard import Run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_dir", required=True, help="folder holding digits.npz")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()

    run = Run.get_context()
    torch.manual_seed(0)
    data = np.load(os.path.join(args.data_dir, "digits.npz"))
    x = torch.tensor(data["x"], dtype=torch.float32) / 16.0
    y = torch.tensor(data["y"], dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    split = int(0.8 * len(x))
    train_idx, val_idx = perm[:split], perm[split:]
    print(f"digits: {len(train_idx)} train / {len(val_idx)} validation samples, 64 features, 10 classes")

    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        for batch in torch.split(train_idx[torch.randperm(len(train_idx))], 64):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = loss_fn(model(x[val_idx]), y[val_idx])
            val_acc = (model(x[val_idx]).argmax(1) == y[val_idx]).float().mean()
        run.log("loss", loss, step=epoch)            # tensors are fine: converted off the training thread
        run.log("val_loss", val_loss, step=epoch)
        run.log("val_accuracy", val_acc, step=epoch)
        if epoch % 5 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  val_loss {val_loss.item():.4f}  "
                  f"val_accuracy {val_acc.item():.4f}")
    print(f"trained in {time.time() - start:.1f}s")
    os.makedirs("outputs", exist_ok=True)
    torch.save(model.state_dict(), "outputs/model.pt")
    run.log("final_val_accuracy", float(val_acc))


if __name__ == "__main__":
    main()
