"""Where the time of one training step can go: each NumPy operation of a step, timed alone.

Workload shapes of bench_core.py (batch 128, net 40-128-128-10, float32, one thread, R = 1 in the
replica-stacked layout ``(R, B, n)``). Each line is the median over many repetitions of the same
operation, in microseconds per step, and its cost per epoch (63 steps: 62 of 128 rows, one of 64).
The table shows the budget the targets leave: the floor (the eight matrix products) is about
11.6 ms per epoch, and <= 1.5x the floor leaves about 5.8 ms, i.e. ~90 us per step, for
everything else (gather, bias, activation, softmax, optimizer, Python overhead, evaluation).

    bench/.venv/bin/python bench/ops_budget.py
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

B, N_TRAIN, STEPS = 128, 8000, 63
SIZES = (40, 128, 128, 10)
f32 = np.float32


def timeit(fn, reps: int = 400, inner: int = 20) -> float:
    """Median seconds of one call of ``fn``."""
    fn()
    runs = []
    for _ in range(reps // inner):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - t0) / inner)
    return statistics.median(runs)


def main() -> None:
    rng = np.random.default_rng(0)
    R = 1
    X = rng.standard_normal((N_TRAIN, SIZES[0]), dtype=f32)
    y = rng.integers(0, SIZES[-1], N_TRAIN)
    perm = rng.permutation(N_TRAIN)
    idx = perm[:B]
    sl = slice(0, B)
    Xs = X[perm]  # a permuted copy, sliced contiguously per batch
    Xb = np.empty((B, SIZES[0]), f32)
    W = [
        rng.standard_normal((R, a, b), dtype=f32) * 0.1
        for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    W2 = [w[0] for w in W]
    b = [np.zeros((R, 1, n), f32) for n in SIZES[1:]]
    Z = [np.empty((R, B, n), f32) for n in SIZES[1:]]
    Z2 = [z[0] for z in Z]
    A = [np.empty((R, B, n), f32) for n in SIZES[1:-1]]
    dA = [np.empty((R, B, n), f32) for n in SIZES[1:-1]]
    dW = [np.empty_like(w) for w in W]
    db = [np.empty_like(x) for x in b]
    mask = np.empty((R, B, 128), bool)
    for z in Z:
        z[...] = rng.standard_normal(z.shape, dtype=f32)
    n_par = sum(w.size + x.size for w, x in zip(W, b, strict=False))
    p = rng.standard_normal(n_par, dtype=f32)
    g = rng.standard_normal(n_par, dtype=f32)
    m, v, s, s2 = (np.zeros(n_par, f32) for _ in range(4))
    v += 1.0
    rows = []

    def add(name, fn, count=1):
        rows.append((name, count * timeit(fn)))

    # data
    add("gather X[idx] (fancy index, new array)", lambda: X[idx])
    add("np.take(X, idx, axis=0, out=)", lambda: np.take(X, idx, axis=0, out=Xb))
    add("contiguous slice of pre-permuted X", lambda: Xs[sl])
    add("pre-permute X once per epoch (/63)", lambda: np.take(X, perm, axis=0), 1 / STEPS)
    # matmuls, 3-D stacked vs 2-D
    x3 = Xs[sl]

    def mm3():
        np.matmul(x3, W[0], out=Z[0])
        np.matmul(A[0], W[1], out=Z[1])
        np.matmul(A[1], W[2], out=Z[2])
        np.matmul(A[1].transpose(0, 2, 1), Z[2], out=dW[2])
        np.matmul(Z[2], W[2].transpose(0, 2, 1), out=dA[1])
        np.matmul(A[0].transpose(0, 2, 1), Z[1], out=dW[1])
        np.matmul(Z[1], W[1].transpose(0, 2, 1), out=dA[0])
        np.matmul(x3.T, Z[0][0], out=dW[0][0])

    A2 = [a[0] for a in A]
    dA2 = [a[0] for a in dA]
    dW2 = [w[0] for w in dW]

    def mm2():
        np.matmul(x3, W2[0], out=Z2[0])
        np.matmul(A2[0], W2[1], out=Z2[1])
        np.matmul(A2[1], W2[2], out=Z2[2])
        np.matmul(A2[1].T, Z2[2], out=dW2[2])
        np.matmul(Z2[2], W2[2].T, out=dA2[1])
        np.matmul(A2[0].T, Z2[1], out=dW2[1])
        np.matmul(Z2[1], W2[1].T, out=dA2[0])
        np.matmul(x3.T, Z2[0], out=dW2[0])

    add("8 matmuls, 2-D arrays (the floor)", mm2)
    add("8 matmuls, 3-D (R=1) arrays", mm3)
    # element-wise
    add(
        "bias add Z += b (3 layers)",
        lambda: [np.add(z, x, out=z) for z, x in zip(Z, b, strict=False)],
    )
    add(
        "bias grad sum(dZ, axis=1) (3 layers)",
        lambda: [np.sum(z, 1, keepdims=True, out=d) for z, d in zip(Z, db, strict=False)],
    )
    add(
        "bias grad via ones @ dZ (3 layers)",
        lambda: [
            np.matmul(np.ones((1, B), f32), z[0], out=d[0]) for z, d in zip(Z, db, strict=False)
        ],
    )
    add(
        "relu fwd np.maximum(Z, 0, out=A) (2 layers)",
        lambda: [np.maximum(z, 0, out=a) for z, a in zip(Z, A, strict=False)],
    )
    add(
        "relu bwd dA *= (Z > 0) (2 layers)",
        lambda: [np.multiply(d, z > 0, out=d) for z, d in zip(Z, dA, strict=False)],
    )
    add(
        "relu bwd greater(out=mask); multiply (2 layers)",
        lambda: [
            (np.greater(z, 0, out=mask), np.multiply(d, mask, out=d))
            for z, d in zip(Z, dA, strict=False)
        ],
    )
    add(
        "relu bwd np.copyto(dA, 0, where=A <= 0) (2 layers)",
        lambda: [np.copyto(d, 0, where=a <= 0) for a, d in zip(A, dA, strict=False)],
    )
    zo = Z[2]
    yb = y[:B]
    e = np.empty_like(zo)
    mx = np.empty((R, B, 1), f32)
    se = np.empty((R, B, 1), f32)
    ar = np.arange(B)
    g_rows = np.empty((R, B), f32)

    def softmax_ce():
        np.max(zo, axis=2, keepdims=True, out=mx)
        np.subtract(zo, mx, out=e)
        np.exp(e, out=e)
        np.sum(e, axis=2, keepdims=True, out=se)
        np.divide(e, se, out=e)
        np.subtract(e[:, ar, yb], 1, out=g_rows)
        e[:, ar, yb] = g_rows
        np.multiply(e, f32(1.0 / B), out=e)

    add("softmax + CE grad (7 ops)", softmax_ce)

    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8

    def adam_plain():  # 10 passes, torch's order
        np.subtract(g, m, out=s)
        np.multiply(s, f32(1 - b1), out=s)
        np.add(m, s, out=m)
        np.multiply(g, f32(1 - b2), out=s)
        np.multiply(s, g, out=s)
        np.multiply(v, f32(b2), out=v)
        np.add(v, s, out=v)
        np.sqrt(v, out=s)
        np.add(s, f32(eps), out=s)
        np.divide(m, s, out=s)
        np.multiply(s, f32(lr), out=s)
        np.subtract(p, s, out=p)

    def adam_fused():  # fewer passes: bias corrections folded into two scalars
        np.multiply(m, f32(b1), out=m)
        np.multiply(g, f32(1 - b1), out=s)
        np.add(m, s, out=m)
        np.multiply(g, g, out=s)
        np.multiply(s, f32(1 - b2), out=s)
        np.multiply(v, f32(b2), out=v)
        np.add(v, s, out=v)
        np.sqrt(v, out=s)
        np.add(s, f32(eps), out=s)
        np.divide(m, s, out=s2)
        np.multiply(s2, f32(lr), out=s2)
        np.subtract(p, s2, out=p)

    add(f"Adam step, {n_par} params, ~12 ufunc passes", adam_plain)
    add("Adam step, same, other order", adam_fused)
    add("empty Python function call", lambda: None)

    total_floor = dict(rows)["8 matmuls, 2-D arrays (the floor)"]
    print(f"per-step costs, batch {B}, R = 1, float32, one thread (epoch = {STEPS} steps)")
    print(f"{'operation':52s} {'us/step':>9s} {'ms/epoch':>9s} {'x floor':>8s}")
    for name, t in rows:
        print(f"{name:52s} {1e6 * t:9.1f} {1e3 * t * STEPS:9.2f} {t / total_floor:8.3f}")
    # full-epoch evaluation costs (forward only)
    Xe = rng.standard_normal((N_TRAIN, SIZES[0]), dtype=f32)
    He = [np.empty((N_TRAIN, n), f32) for n in SIZES[1:]]

    def fwd_train_set():
        np.matmul(Xe, W2[0], out=He[0])
        np.maximum(He[0], 0, out=He[0])
        np.matmul(He[0], W2[1], out=He[1])
        np.maximum(He[1], 0, out=He[1])
        np.matmul(He[1], W2[2], out=He[2])

    t = timeit(fwd_train_set, reps=20, inner=2)
    print(
        f"{'forward pass over all 8,000 training rows':52s} {'':9s} {1e3 * t:9.2f}"
        f" {t / (total_floor * STEPS):8.3f}  (per epoch, if train metrics are recomputed)"
    )
    print(
        f"{'forward pass over 2,000 validation rows':52s} {'':9s} {1e3 * t / 4:9.2f}"
        f" {t / 4 / (total_floor * STEPS):8.3f}  (approx.)"
    )


if __name__ == "__main__":
    main()
