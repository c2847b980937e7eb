"""Same start, same batches: nngrid's training loop against a torch loop, epoch by epoch.

The benchmark compares speed at equal accuracy; this script checks that the nngrid contender
computes the same thing as the torch one. It rebuilds the initial weights and the shuffle order
``train_replicas`` uses for seed 0 (``SeedSequence(seed).spawn(3)``: init, shuffle, dropout
streams), copies the weights into an ``nn.Sequential`` and trains it with ``torch.optim.Adam`` on
the same batches; it prints both training losses per epoch and both final test accuracies.
Float32 in both: expect agreement to about 5-6 significant digits.

    bench/.venv/bin/python bench/check_vs_torch.py [--epochs 5]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import BATCH, HIDDEN, LR, NNGRID_INIT, make_data, nngrid_args, torch_mlp, with_val  # noqa: E402

from nngrid.core.network import MLP  # noqa: E402
from nngrid.core.train import TrainConfig, train_replicas  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = make_data()
    (rec,) = train_replicas(
        with_val(data), TrainConfig(epochs=args.epochs, seeds=(args.seed,), **nngrid_args())
    ).records
    init_seq, shuffle_seq, _ = np.random.SeedSequence(args.seed).spawn(3)
    sizes = [data["X_train"].shape[1], *HIDDEN, int(data["y_train"].max()) + 1]
    net = MLP(sizes, "relu", NNGRID_INIT, [np.random.default_rng(init_seq)])
    shuffle = np.random.default_rng(shuffle_seq)
    model = torch_mlp(torch)
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(layers):
            lin.weight.copy_(torch.from_numpy(net.params[2 * i][0].T.copy()))
            lin.bias.copy_(torch.from_numpy(net.params[2 * i + 1][0, 0].copy()))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    n = len(X)
    worst = 0.0
    for e in range(args.epochs):
        perm = torch.from_numpy(shuffle.permutation(n))
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        ours = rec["history"][e]["train_loss"]
        rel = abs(total / n - ours) / abs(ours)
        worst = max(worst, rel)
        print(f"epoch {e + 1}: train loss torch {total / n:.7f}  nngrid {ours:.7f}  rel {rel:.1e}")
    with torch.no_grad():
        out = model(torch.from_numpy(data["X_test"]))
    acc = float((out.argmax(1).numpy() == data["y_test"]).mean())
    print(f"test accuracy torch {acc:.4f}  nngrid {rec['test_accuracy']:.4f}")
    print(f"largest relative difference of the epoch losses: {worst:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
