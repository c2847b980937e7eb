"""Where a training batch of mnist1d's GRU goes, alone and as a stack of 10: CPU time per part.

One batch of 100 MNIST-1D sequences through ``Network`` (float32, one thread), each part timed on
its own over ``--repeats`` calls with ``time.process_time``: the whole forward and backward pass,
the recurrent layer's forward and backward, one direction's time loop (forward steps; backward
steps with their per-step dW GEMM), the transposing copies between the loop's layout and the
layer's ``(R, B, L, D hidden)`` output, the output layer, and ``predict`` on the 1,000 test rows.
Used to read why a stack of 10 gains what it gains (docs/BENCHMARKS.md, "What limits the stacks").

    python bench/profile_recurrent.py [--repeats 200]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist1d_models as m  # noqa: E402

from nngrid.core.network import Network  # noqa: E402


def parts(R: int, data: dict, n: int) -> dict[str, float]:
    """Microseconds per call of each part, for a stack of ``R``."""
    X = data["X_train"][:100]
    net = Network(m.GRU, (40, 1), 10, "relu", rngs=[np.random.default_rng(r) for r in range(R)])
    gru, dense = net.layers[0], net.layers[2]
    out = net.forward(X, train=True)
    grad = np.full_like(out, 0.01)
    net.backward(grad)
    buf = net._recent[0]
    sh, b = buf["shared"], buf["d0"]
    L, H = gru.L, gru.hidden
    dY = np.random.default_rng(0).random((R, 100, L, 2 * H), np.float32) * 0.01
    feats = np.ascontiguousarray(buf["out"]).reshape(R, 100, -1)

    def loop_forward():
        for v in b["fw"]:
            gru.step(v, True)

    def loop_backward():
        for v in reversed(b["bw"]):
            gru.step_back(v, sh["dh"], sh)
            np.matmul(v["dpin"], v["xinT"], out=v["dWs"])

    Hc = b["Hc"]
    calls = {
        "net forward (train)": lambda: net.forward(X, train=True),
        "net backward": lambda: net.backward(grad),
        "gru forward": lambda: gru.forward(X[:, :, None], buf, True),
        "gru backward": lambda: gru.backward(dY, buf, False),
        "  one direction's forward steps": loop_forward,
        "  one direction's backward steps + dW": loop_backward,
        "  output copy, one direction": lambda: np.copyto(
            buf["out"][..., :H], Hc[1 : L + 1, :H].transpose(2, 3, 0, 1)
        ),
        "  gradient copy, one direction": lambda: np.copyto(
            sh["dYs"], dY[..., :H].transpose(2, 3, 0, 1)
        ),
        "output layer forward": lambda: dense.forward(feats, net._recent[2], True),
        "output layer backward": lambda: dense.backward(grad, net._recent[2], True),
        "predict, 1,000 test rows": lambda: net.predict(data["X_test"]),
    }
    res = {}
    for name, fn in calls.items():
        fn()
        reps = max(3, n // 20) if name.startswith("predict") else n
        t0 = time.process_time()
        for _ in range(reps):
            fn()
        res[name] = (time.process_time() - t0) / reps * 1e6
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    data = m.make_data()
    one, ten = parts(1, data, args.repeats), parts(10, data, args.repeats)
    print(f"load {os.getloadavg()[0]:.2f}; us per call (CPU), batch 100")
    print(f"{'part':42s} {'R = 1':>9s} {'R = 10':>9s} {'10 x R=1 / R=10':>16s}")
    for k in one:
        print(f"{k:42s} {one[k]:9.0f} {ten[k]:9.0f} {10 * one[k] / ten[k]:15.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
