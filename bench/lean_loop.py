"""A lean hand-written NumPy training loop: how close to the matrix-product floor NumPy can get.

Not part of nngrid: a reference for the benchmark, to show what each proposed change to the core
buys. Same maths as nngrid's ``train_replicas`` for a relu MLP with softmax cross-entropy and Adam
(torch's update rule), replica-stacked ``(R, B, n)`` like the core. The tricks, each measured in
``ops_budget.py`` and ``profile_core.py``:

1. First layer's bias folded into its matrix product: the epoch's gathered inputs carry a
   constant ones column, ``X~ = [X, 1]``, and each layer's parameters are one block
   ``W~ = [W; b]`` of shape ``(R, fan_in + 1, fan_out)`` in the flat buffer, so ``Z_1 = X~ W~_1``
   needs no bias add and ``dW~_1 = X~^T dZ_1`` yields the bias gradient for free. (Doing the same
   for hidden layers would make the activations strided, ``[A, 1]``, and strided element-wise
   ops lose NumPy's SIMD path: measured slower than the bias add it saves.) Hidden layers' bias
   gradients are one product ``ones(1, B) @ dZ`` (4x faster than ``dZ.sum(axis=1)``).
2. relu in place on the product's output, with its 0/1 mask kept as float32
   (``np.greater(z, 0, out=mask_f32)``; ``z *= mask``), so the backward pass is one float
   multiply: ``dZ = dA * mask``. (``np.maximum`` and multiplying by a bool array are ~2-3x
   slower than float multiplies here.)
3. Softmax cross-entropy without per-call validation or allocation: the row maximum taken over a
   transposed copy ``(R, C, B)`` (a reduction over the short last axis of ``(R, B, C)`` costs 4x
   more), the row sums of ``exp`` by a product with a ones vector, the labels' logits by one
   ``np.take`` on flat indices; per-example losses and hits are written into per-epoch arrays and
   reduced once per epoch. A hit is ``logit[label] >= max`` (argmax up to exact ties).
4. Labels are checked once, before training, never inside the loop.

    bench/.venv/bin/python bench/lean_loop.py   (prints one training run's numbers)
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def train_lean(
    data: dict,
    hidden=(128, 128),
    lr: float = 1e-3,
    batch: int = 128,
    epochs: int = 20,
    seeds=(0,),
    validate: bool = True,
    dtype=np.float32,
) -> dict:
    """Train ``R = len(seeds)`` replicas; return test accuracy per replica and timings."""
    f = np.dtype(dtype).type
    X, y = data["X_train"], data["y_train"]
    n, d = X.shape
    C = int(y.max()) + 1
    R = len(seeds)
    sizes = [d, *hidden, C]
    L = len(sizes) - 1
    # parameters: one flat buffer of per-layer blocks W~ = [W; b], shape (R, fan_in + 1, fan_out)
    shapes = [(R, a + 1, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    total = sum(math.prod(s) for s in shapes)
    flat, gflat = np.zeros(total, dtype), np.zeros(total, dtype)

    def views(buf):
        out, o = [], 0
        for s in shapes:
            out.append(buf[o : o + math.prod(s)].reshape(s))
            o += math.prod(s)
        return out

    Wt, Gt = views(flat), views(gflat)
    for r, seed in enumerate(seeds):  # Glorot uniform weights, zero biases
        rng = np.random.default_rng(seed)
        for w, (a, b) in zip(Wt, zip(sizes[:-1], sizes[1:], strict=True), strict=True):
            lim = math.sqrt(6.0 / (a + b))
            w[r, :a] = rng.uniform(-lim, lim, (a, b))
    shuffle = [np.random.default_rng([seed, 1]) for seed in seeds]
    # data with a ones column, gathered per epoch into (R, n, d + 1)
    Xa = np.ones((n, d + 1), dtype)
    Xa[:, :d] = X
    Xe = np.empty((R, n, d + 1), dtype)
    ye = np.empty((R, n), np.intp)
    perm = np.empty((R, n), np.intp)

    class Buf:
        def __init__(self, B: int):
            self.H = [np.empty((R, B, w), dtype) for w in sizes[1:-1]]  # relu(Z), in place
            self.ones = np.ones((R, 1, B), dtype)
            self.M = [np.empty((R, B, w), dtype) for w in sizes[1:-1]]  # relu masks, 0/1
            self.dA = [np.empty((R, B, w), dtype) for w in sizes[1:-1]]
            self.Z = np.empty((R, B, C), dtype)
            self.E = np.empty((R, B, C), dtype)
            self.ET = np.empty((R, C, B), dtype)
            self.mx = np.empty((R, 1, B), dtype)
            self.se = np.empty((R, B, 1), dtype)
            self.pk = np.empty((R, B), dtype)
            self.base = (np.arange(R * B) * C).reshape(R, B)
            self.fi = np.empty((R, B), np.intp)

    bufs: dict[int, Buf] = {}
    ones_c = np.ones((C, 1), dtype)

    def forward(Xb, bf: Buf, train: bool):
        Hin = Xb
        for layer in range(L - 1):
            Z = bf.H[layer]
            _affine(Hin, layer, Z)
            np.greater(Z, 0, out=bf.M[layer])
            np.multiply(Z, bf.M[layer], out=Z)
            Hin = Z
        _affine(Hin, L - 1, bf.Z)
        return bf.Z

    def _affine(Hin, layer, out):
        if layer == 0:  # the input carries the ones column: the bias is in the product
            np.matmul(Hin, Wt[0], out=out)
        else:
            fan_in = sizes[layer]
            np.matmul(Hin, Wt[layer][:, :fan_in], out=out)
            np.add(out, Wt[layer][:, fan_in:], out=out)

    def softmax_ce(Z, yb, bf: Buf, loss_out, hit_out):
        """Per-example loss and hit into the given rows; bf.E becomes d loss / dZ (batch mean)."""
        B = Z.shape[1]
        np.copyto(bf.ET, Z.transpose(0, 2, 1))
        np.max(bf.ET, axis=1, keepdims=True, out=bf.mx)
        mx = bf.mx.transpose(0, 2, 1)  # (R, B, 1)
        np.subtract(Z, mx, out=bf.E)
        np.exp(bf.E, out=bf.E)
        np.matmul(bf.E, ones_c, out=bf.se)
        np.add(bf.base, yb, out=bf.fi)
        np.take(Z.reshape(-1), bf.fi, out=bf.pk)
        if hit_out is not None:
            np.greater_equal(bf.pk, mx[..., 0], out=hit_out)
        # loss_i = log(sum exp(z - max)) + max - z_label
        np.log(bf.se[..., 0], out=loss_out)
        loss_out += mx[..., 0]
        loss_out -= bf.pk
        np.divide(bf.E, bf.se, out=bf.E)
        Ef = bf.E.reshape(-1)
        Ef[bf.fi.reshape(-1)] -= 1
        bf.E *= f(1.0 / B)
        return bf.E

    def backward(Xb, dZ, bf: Buf):
        for layer in range(L - 1, -1, -1):
            if layer == 0:  # dW~ = X~^T dZ: weights and bias at once
                np.matmul(Xb.transpose(0, 2, 1), dZ, out=Gt[0])
                break
            fan_in = sizes[layer]
            np.matmul(bf.H[layer - 1].transpose(0, 2, 1), dZ, out=Gt[layer][:, :fan_in])
            np.matmul(bf.ones, dZ, out=Gt[layer][:, fan_in:])  # db = column sums of dZ
            w = sizes[layer]
            dA = bf.dA[layer - 1]
            np.matmul(dZ, Wt[layer][:, :w].transpose(0, 2, 1), out=dA)
            np.multiply(dA, bf.M[layer - 1], out=dA)
            dZ = dA

    # Adam (torch's rule), on the whole flat buffer
    m, v, s = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)
    b1, b2, eps = 0.9, 0.999, 1e-8
    t = 0

    def adam():
        nonlocal t
        t += 1
        np.subtract(gflat, m, out=s)  # m += (1 - b1) (g - m)
        np.multiply(s, f(1 - b1), out=s)
        np.add(m, s, out=m)
        np.multiply(gflat, f(1 - b2), out=s)  # v = b2 v + (1 - b2) g^2
        np.multiply(s, gflat, out=s)
        np.multiply(v, f(b2), out=v)
        np.add(v, s, out=v)
        bc1, sbc2 = 1 - b1**t, math.sqrt(1 - b2**t)
        np.sqrt(v, out=s)  # p -= (lr sqrt(bc2) / bc1) m / (sqrt(v) + eps sqrt(bc2))
        np.add(s, f(eps * sbc2), out=s)
        np.divide(m, s, out=s)
        np.multiply(s, f(lr * sbc2 / bc1), out=s)
        np.subtract(flat, s, out=flat)

    def evaluate(Xs, ys):
        Xs_a = np.ones((len(Xs), d + 1), dtype)
        Xs_a[:, :d] = Xs
        bf = bufs.setdefault(len(Xs), Buf(len(Xs)))
        Z = forward(np.broadcast_to(Xs_a, (R, *Xs_a.shape)), bf, False)
        lo = np.empty((R, len(Xs)), dtype)
        hit = np.empty((R, len(Xs)), bool)
        softmax_ce(Z, np.broadcast_to(ys, (R, len(ys))), bf, lo, hit)
        return lo.mean(axis=1, dtype=np.float64), hit.mean(axis=1)

    ep_loss = np.empty((R, n), dtype)
    ep_hit = np.empty((R, n), bool)
    history, epoch_times = [], []
    t_start = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        for r in range(R):
            perm[r] = shuffle[r].permutation(n)
        np.take(Xa, perm, axis=0, out=Xe, mode="clip")  # "raise" buffers: 2-5x slower
        np.take(y, perm, axis=0, out=ye, mode="clip")
        for lo in range(0, n, batch):
            hi = min(lo + batch, n)
            bf = bufs.get(hi - lo)
            if bf is None:
                bf = bufs[hi - lo] = Buf(hi - lo)
            Xb = Xe[:, lo:hi]
            Z = forward(Xb, bf, True)
            dZ = softmax_ce(Z, ye[:, lo:hi], bf, ep_loss[:, lo:hi], ep_hit[:, lo:hi])
            backward(Xb, dZ, bf)
            adam()
        entry = {
            "train_loss": ep_loss.mean(axis=1, dtype=np.float64),
            "train_accuracy": ep_hit.mean(axis=1),
        }
        if validate:
            entry["val_loss"], entry["val_accuracy"] = evaluate(data["X_val"], data["y_val"])
        history.append(entry)
        epoch_times.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - t_start
    _, test_acc = evaluate(data["X_test"], data["y_test"])
    return {
        "test_accuracy": test_acc.tolist(),
        "seconds": seconds,
        "seconds_per_epoch": float(np.median(epoch_times)),
        "history": history,
    }


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from workload import make_data, with_val

    res = train_lean(with_val(make_data()), epochs=20)
    print(
        f"lean loop: {1e3 * res['seconds_per_epoch']:.2f} ms/epoch (median), "
        f"test accuracy {res['test_accuracy']}, final train loss "
        f"{res['history'][-1]['train_loss']}"
    )
