"""Replica speed-up: R models trained as one stacked computation vs R trainings one after another.

Workload (issue 2, "Speed"): R = 10 replicas (seeds 0..9) of a 2-32-32-2 relu net on 1,000
training points of the moons dataset (``nngrid.datasets.build("moons", n_samples=1250,
val_fraction=0.1, test_fraction=0.1)``: 1,000 train, 125 validation, 125 test), batch 32, Adam
lr 1e-3, float32, one BLAS thread. Contender A: one ``train_replicas(seeds=range(R))`` call.
Contender B: R calls ``train_replicas(seeds=(r,))`` one after another. The two are interleaved
(A B, A B, ...) and the medians are compared:

    model-epochs per second = R * epochs / time,   speed-up = time(B) / time(A),

timed by the process CPU time (robust to other processes on a shared machine) and by the wall
clock; the target is judged on CPU time.

It also checks that replica r of the stack ends with the same test accuracy as replica r alone.

    bench/.venv/bin/python bench/bench_replicas.py      (or any environment with nngrid)
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def make_data() -> dict[str, np.ndarray]:
    from nngrid.datasets import build

    d = build("moons", seed=0, val_fraction=0.1, test_fraction=0.1, n_samples=1250, noise=0.2)
    return {k: v.astype(np.float32) if k[0] == "X" else v for k, v in d.items()}


def train(data: dict, seeds, epochs: int) -> tuple[float, float, list[dict]]:
    """Wall seconds, CPU seconds and the records of one ``train_replicas`` call."""
    from nngrid.core.train import TrainConfig, train_replicas

    t0, c0 = time.perf_counter(), time.process_time()
    recs = train_replicas(
        data,
        TrainConfig(
            hidden=(32, 32),
            activation="relu",
            optimizer="adam",
            opt_params={"lr": 1e-3},
            batch_size=32,
            epochs=epochs,
            seeds=tuple(seeds),
            dtype="float32",
        ),
    ).records
    return time.perf_counter() - t0, time.process_time() - c0, recs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    R, E = args.replicas, args.epochs
    data = make_data()
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1)
    except ImportError:  # the env variables above already pin NumPy's BLAS to one thread
        limiter = None
    train(data, range(R), 1)  # warm-up
    stacked, separate, stacked_cpu, separate_cpu = [], [], [], []
    acc_stacked = acc_alone = None
    for rnd in range(args.rounds):
        t, c, recs = train(data, range(R), E)
        stacked.append(t)
        stacked_cpu.append(c)
        acc_stacked = [r["test_accuracy"] for r in recs]
        t_sep, c_sep, acc_alone = 0.0, 0.0, []
        for r in range(R):
            t, c, (rec,) = train(data, (r,), E)
            t_sep += t
            c_sep += c
            acc_alone.append(rec["test_accuracy"])
        separate.append(t_sep)
        separate_cpu.append(c_sep)
        print(
            f"round {rnd}: stacked {stacked[-1]:.3f} s ({stacked_cpu[-1]:.3f} CPU), "
            f"separate {separate[-1]:.3f} s ({separate_cpu[-1]:.3f} CPU)",
            file=sys.stderr,
            flush=True,
        )
    if limiter is not None:
        limiter.restore_original_limits()
    med = statistics.median
    ts, tp = med(stacked), med(separate)
    cs, cp = med(stacked_cpu), med(separate_cpu)
    print(
        f"workload: {R} replicas of 2-32-32-2 relu, moons 1,000 train points, batch 32, Adam, "
        f"float32, {E} epochs, {args.rounds} interleaved rounds, one thread; "
        f"load average {os.getloadavg()}"
    )
    print(f"{'':22s} {'wall s':>8s} {'CPU s':>8s} {'model-epochs/s (CPU)':>21s}")
    print(f"{'stacked (one call)':22s} {ts:8.3f} {cs:8.3f} {R * E / cs:21.1f}")
    print(f"{'separate (R calls)':22s} {tp:8.3f} {cp:8.3f} {R * E / cp:21.1f}")
    sp = cp / cs
    print(
        f"speed-up {sp:.2f}x by CPU time, {tp / ts:.2f}x by wall clock "
        f"(target >= 4x: {'meets' if sp >= 4 else 'MISSES'})"
    )
    diff = max(abs(a - b) for a, b in zip(acc_stacked, acc_alone, strict=True))
    print(f"test accuracy, stacked vs alone: max |difference| over replicas = {diff:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
