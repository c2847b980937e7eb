"""Test accuracy of mnist1d's CNN and GRU trained by nngrid with mnist1d's settings.

150 epochs of Adam (lr 1e-2, batch 100) on all 4,000 training rows, the test split as
validation, float32, seeds 0, 1, 2 trained as one replica stack; prints each seed's final test
accuracy, the mean, and the CPU time. The targets of issue 11: mean >= 92% (CNN), >= 89% (GRU).

    nice -n 10 python bench/accuracy_mnist1d.py [--epochs 150] [--models cnn,gru] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mnist1d_models  # noqa: E402

from nngrid.core.train import TrainConfig, train_replicas  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=mnist1d_models.EPOCHS)
    ap.add_argument("--models", default="cnn,gru")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    data = mnist1d_models.make_data()
    out = {}
    for model in args.models.split(","):
        t0, c0 = time.perf_counter(), time.process_time()
        recs = train_replicas(
            data, TrainConfig(**mnist1d_models.nngrid_kwargs(model, args.epochs, seeds))
        ).records
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        accs = [r["test_accuracy"] for r in recs]
        out[model] = {
            "test_accuracy": accs,
            "mean": sum(accs) / len(accs),
            "best_val_accuracy": [r["best_val_accuracy"] for r in recs],
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "epochs": args.epochs,
            "seeds": seeds,
        }
        print(
            f"{model}: test accuracy {', '.join(f'{a:.4f}' for a in accs)}; mean "
            f"{out[model]['mean']:.4f}; {wall:.1f} s wall, {cpu:.1f} s CPU for "
            f"{len(seeds)} x {args.epochs} epochs",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
