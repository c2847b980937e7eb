"""The cost of one cell under each tuning protocol, side by side (issue 21).

One cell of the default grid (moons, 1,000 points, noise 0.25, the config's splits; relu MLP
32-32, no regularizer, adam, batch 64, 60 epochs, float32, seeds [0, 1], 2 tuning seeds) run
by ``nngrid.study.protocol.run_job`` under the ``lr`` protocol (the config's 7 rates, extended
past an edge as the config allows) and under ``full`` with budgets 8 and 16 (lr, b1, b2 and eps
searched), and ``default``. Every round runs every protocol once, in turn, in one process, one
BLAS thread; reported: the median over rounds of the CPU seconds of the cell, its rows (one per
replica; the tuned arm's tuning seeds reuse the winner's tuning replicas, so two rows fewer are
trained under ``lr`` and ``full``), and the ratio to the ``lr`` protocol.

    nice -n 19 python bench/bench_protocols.py [--rounds 3] [--epochs 60] [--json FILE]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

SEARCH = {
    "lr": {"low": 3.0e-4, "high": 0.3, "scale": "log"},
    "b1": {"low": 1.0e-2, "high": 0.5, "scale": "log", "one_minus": True},
    "b2": {"low": 1.0e-4, "high": 0.1, "scale": "log", "one_minus": True},
    "eps": {"low": 1.0e-10, "high": 1.0, "scale": "log"},
}
PROTOCOLS = {
    "lr (7 rates x 2 seeds)": {"protocol": "lr"},
    "full, budget 8": {"protocol": "full", "budget": 8},
    "full, budget 16": {"protocol": "full", "budget": 16},
    "default": {"protocol": "default"},
}


def spec(tuning: dict, epochs: int) -> dict:
    return {
        "axes": {"study": "bench", "dataset": "moons"},
        "activations": ["relu"],
        "regularizers": [{"label": "none", "kind": "none", "params": {}}],
        "optimizers": [
            {
                "name": "adam",
                "lr_grid": {"low": 3.0e-4, "high": 0.3, "points": 7},
                "search": SEARCH,
            }
        ],
        "seeds": [0, 1],
        "tuning": {"seeds": 2, "extend": 2, **tuning},
        "training": {
            "hidden": [32, 32],
            "epochs": epochs,
            "batch_size": 64,
            "dtype": "float32",
            "target_accuracy": 0.9,
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from nngrid.datasets import build
    from nngrid.study.protocol import run_job

    data = build("moons", seed=0, n_samples=1000, noise=0.25)
    load0 = os.getloadavg()
    cpu: dict[str, list[float]] = {k: [] for k in PROTOCOLS}
    n_rows: dict[str, int] = {}
    for r in range(args.rounds):
        for name, tuning in PROTOCOLS.items():
            c0 = time.process_time()
            rows, _ = run_job(data, spec(tuning, args.epochs))
            cpu[name].append(time.process_time() - c0)
            n_rows[name] = len(rows)
        print(f"round {r} done", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    base = med["lr (7 rates x 2 seeds)"]
    print(f"load {load0} -> {os.getloadavg()}; {args.rounds} rounds, {args.epochs} epochs")
    print(f"{'protocol':24s} {'rows':>8s} {'CPU s':>8s}  vs lr")
    for name, sec in med.items():
        print(f"{name:24s} {n_rows[name]:8d} {sec:8.2f}  {sec / base:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu, "rows": n_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
