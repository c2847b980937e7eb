"""Where nngrid's epoch goes on the core workload: CPU time per phase of ``train_replicas``.

All times are CPU time of the thread (``time.thread_time``), so other processes on a shared
machine disturb the shares little.

Wraps the methods the training loop calls (network forward/backward/predict, the loss, the
activation, the optimizer step) with CPU-time accumulators, trains the
bench_core.py workload (40-128-128-10 relu, Adam, batch 128, float32, one thread) and prints each
phase's milliseconds per epoch and its share of the epoch, next to the matrix-product floor
measured in the same process. Times are exclusive (a wrapped call inside another, such as the
activation inside forward or forward inside predict, is counted once, under its own name). The
predict line is its chunking only. The wrappers
cost ~1 us per call (~10% of an epoch), so read the shares, not the absolute total.

    bench/.venv/bin/python bench/profile_core.py [--epochs 10]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import run_floor  # noqa: E402
from workload import make_data, nngrid_args, with_val  # noqa: E402

import nngrid.core.train as T  # noqa: E402

TOTALS: dict[str, float] = defaultdict(float)  # exclusive time: nested wrapped calls subtracted
CALLS: dict[str, int] = defaultdict(int)
_STACK: list[float] = []
#: CPU time of this thread: other processes on a shared machine do not inflate it (much).
CLOCK = time.thread_time  # time spent in wrapped callees of each open wrapped call


def wrap(cls: type, name: str, label: str) -> None:
    fn = getattr(cls, name, None)
    if fn is None:  # the core's hot-path names change as it is optimised; wrap what exists
        return

    @functools.wraps(fn)
    def timed(*a, **k):
        _STACK.append(0.0)
        t0 = CLOCK()
        try:
            return fn(*a, **k)
        finally:
            dt = CLOCK() - t0
            inner = _STACK.pop()
            if _STACK:
                _STACK[-1] += dt
            TOTALS[label] += dt - inner
            CALLS[label] += 1

    setattr(cls, name, timed)


def instrument(kw: dict) -> None:
    """Wrap the classes the run will use (resolved through the registries, as train does)."""
    from nngrid.core.network import MLP

    act = type(T.ACTIVATIONS.create(kw["activation"]))
    loss = type(T.LOSSES.create("softmax_cross_entropy"))
    opt = type(T.OPTIMIZERS.create(kw["optimizer"], **kw["opt_params"]))
    wrap(MLP, "forward", "forward: matmuls, bias (train batches + eval)")
    wrap(MLP, "backward", "backward: matmuls, bias grads")
    wrap(MLP, "predict", "predict: chunking only (its forward is above)")
    for name in ("forward", "forward_train"):
        wrap(act, name, "activation forward")
    for name in ("backward", "backward_train"):
        wrap(act, name, "activation backward")
    for name in ("value_and_grad", "_fast_value_and_grad", "_fast_per_example"):
        wrap(loss, name, "loss value_and_grad")
    for name in ("value", "_fast_value"):
        wrap(loss, name, "loss value (eval)")
    wrap(loss, "accuracy", "loss accuracy (eval)")
    wrap(opt, "step", "optimizer step")
    # Not the regularizer hooks: the trainer skips hooks a class does not override, and wrapping
    # them would count as an override.


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    data = make_data()
    d = with_val(data)
    kw = dict(nngrid_args(), seeds=(0,))
    T.train_replicas(d, T.TrainConfig(epochs=1, **kw))  # warm-up, uninstrumented
    floors = [run_floor(data, 3, s)["cpu_epoch_s"] for s in range(3)]
    t_plain = CLOCK()
    T.train_replicas(d, T.TrainConfig(epochs=args.epochs, **kw))
    t_plain = (CLOCK() - t_plain) / args.epochs
    instrument(kw)
    t0 = CLOCK()
    T.train_replicas(d, T.TrainConfig(epochs=args.epochs, **kw))
    total = (CLOCK() - t0) / args.epochs
    floors += [run_floor(data, 3, s)["cpu_epoch_s"] for s in range(3)]
    floor = statistics.median(floors)

    E = args.epochs
    print(
        f"nngrid epoch, uninstrumented {1e3 * t_plain:.2f} ms, instrumented {1e3 * total:.2f} ms; "
        f"floor {1e3 * floor:.2f} ms (8 matmuls/batch); load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'phase':46s} {'calls/ep':>8s} {'ms/epoch':>9s} {'% epoch':>8s} {'x floor':>8s}")
    top = 0.0
    for label, t in sorted(TOTALS.items(), key=lambda kv: -kv[1]):
        top += t
        print(
            f"{label:46s} {CALLS[label] / E:8.0f} {1e3 * t / E:9.2f} {100 * t / E / total:7.1f}%"
            f" {t / E / floor:8.3f}"
        )
    rest = total - top / E
    print(
        f"{'rest: loop, gather, bookkeeping, Python':46s} {'':8s} {1e3 * rest:9.2f}"
        f" {100 * rest / total:7.1f}% {rest / floor:8.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
