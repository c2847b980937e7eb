"""Layered core speed: mnist1d's CNN and GRU in nngrid vs PyTorch, replica stacks, the conv floor,
and the MLP workload of bench_core.py on today's core vs the pre-layers core, side by side.

Every contender runs in this one process with ONE thread (the BLAS thread variables are set before
NumPy is imported, ``threadpoolctl`` caps every pool, ``torch.set_num_threads(1)``), interleaved
round by round (A B C, A B C, ...) so that noise from other processes hits them alike; the table
reports medians over rounds of the per-epoch CPU time (``time.process_time`` of the whole training
call / epochs) and wall time.

* ``cnn``, ``gru``: MNIST-1D (mnist1d's ``make_dataset`` defaults, 4,000 x 40), Adam lr 1e-2,
  batch 100, float32. nngrid: ``train_replicas`` (which evaluates the validation split, here the
  1,000 test rows, after every epoch); torch: the same net (bench/mnist1d_models.py) in its
  idiomatic loop (a permutation per epoch, index slicing, ``zero_grad``/``backward``/``step``),
  also evaluating the test rows once per epoch.
* ``cnn_floor``: the CNN's matrix products alone for one epoch (per batch: the three conv GEMMs and
  the output layer's forward; backward: every layer's weight-gradient GEMM and the input-gradient
  GEMMs of all but the first layer), on preallocated float32 arrays with ``np.matmul(out=)``.
* ``*_stack10`` vs ``*_seq10``: a stack of 10 replicas in one ``train_replicas`` call vs 10
  calls one after another; the ratio is of model-epochs per second. ``cnn_floor_stack10``: the
  GEMMs of a CNN stack of 10 alone; 10 runs in a row over it bounds any stack's speed-up from
  above (a stack computes at least those products).
* ``mlp`` vs ``mlp_pre``: bench_core.py's workload (40-128-128-10 relu, Adam, batch 128) through
  today's ``train_replicas`` and through the train.py and network.py of commit ``PRE_LAYERS``
  (loaded from git into this process): the layered core must not be slower.

    python bench/bench_layers.py [--epochs 10] [--rounds 3] [--only cnn,gru,...] [--json FILE]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mnist1d_models as m  # noqa: E402
import workload  # noqa: E402

from nngrid.core.train import TrainConfig, train_replicas  # noqa: E402

#: The last commit before the layered core (its MLP and training loop are the baseline).
PRE_LAYERS = "7f6b113"
ROOT = Path(__file__).resolve().parents[1]


def timed(fn, epochs: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    acc = fn()
    return {
        "epoch_s": (time.perf_counter() - t0) / epochs,
        "cpu_epoch_s": (time.process_time() - c0) / epochs,
        "test_accuracy": acc,
    }


# --------------------------------------------------------------------------- contenders
def nngrid_run(model: str, data: dict, epochs: int, seed: int, seeds=None) -> float:
    seeds = [seed] if seeds is None else seeds
    recs = train_replicas(data, TrainConfig(**m.nngrid_kwargs(model, epochs, seeds))).records
    return float(np.mean([r["test_accuracy"] for r in recs]))


def torch_run(model: str, data: dict, epochs: int, seed: int) -> float:
    import torch

    torch.manual_seed(seed)
    net = m.torch_model(model)
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    Xt, yt = torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"])
    opt = torch.optim.Adam(net.parameters(), lr=m.LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    acc = 0.0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=gen)
        for s in range(0, len(X), m.BATCH):
            i = perm[s : s + m.BATCH]
            opt.zero_grad()
            loss = loss_fn(net(X[i]), y[i])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            out = net(Xt)
            acc = float((out.argmax(1) == yt).float().mean())
            loss_fn(out, yt).item()
    return acc


def cnn_floor(data: dict, epochs: int, seed: int, R: int = 1) -> float:
    """The CNN's GEMMs alone (see the module docstring), float32, preallocated; with ``R > 1``
    those of a stack of R replicas (each product batched over a leading replica axis, as
    ``train_replicas`` does them)."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    B, n = m.BATCH, len(data["X_train"])
    T = (0, 2, 1)
    # (L_in, C_in, kernel, L_out) of the three convs; 25 channels out
    convs = [(40, 1, 5, 19), (19, 25, 3, 10), (10, 25, 3, 5)]
    P = [rng.standard_normal((R, B * lo, k * c)).astype(f32) for _, c, k, lo in convs]
    W = [rng.standard_normal((R, k * c, 25)).astype(f32) for _, c, k, _ in convs]
    Z = [np.empty((R, B * lo, 25), f32) for *_, lo in convs]
    dP = [np.empty((R, B * lo, k * c), f32) for _, c, k, lo in convs]
    dW = [np.empty_like(w) for w in W]
    F = rng.standard_normal((R, B, 125)).astype(f32)
    Wo, out = rng.standard_normal((R, 125, 10)).astype(f32), np.empty((R, B, 10), f32)
    dF, dWo = np.empty((R, B, 125), f32), np.empty((R, 125, 10), f32)
    for _ in range(epochs):
        for _ in range(n // B):
            for i in range(3):
                np.matmul(P[i], W[i], out=Z[i])
            np.matmul(F, Wo, out=out)
            np.matmul(F.transpose(T), out, out=dWo)
            np.matmul(out, Wo.transpose(T), out=dF)
            for i in (2, 1, 0):
                np.matmul(P[i].transpose(T), Z[i], out=dW[i])
                if i:
                    np.matmul(Z[i], W[i].transpose(T), out=dP[i])
    return float("nan")


def _old_train_module():
    """train.py of PRE_LAYERS, running on that commit's network.py (both loaded from git)."""

    def load(path: str, name: str, swap: dict) -> types.ModuleType:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{PRE_LAYERS}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        mod = types.ModuleType(name)
        saved = {k: sys.modules.get(k) for k in swap}
        sys.modules.update(swap)
        try:
            exec(compile(src, f"{PRE_LAYERS}:{path}", "exec"), mod.__dict__)
        finally:
            for k, v in saved.items():
                sys.modules[k] = v
        return mod

    old_net = load("src/nngrid/core/network.py", "pre_network", {})
    return load("src/nngrid/core/train.py", "pre_train", {"nngrid.core.network": old_net})


def mlp_run(train, data: dict, epochs: int, seed: int) -> float:
    (rec,) = train(workload.with_val(data), epochs=epochs, seeds=(seed,), **workload.nngrid_args())
    return rec["test_accuracy"]


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="cnn,gru,replicas,mlp")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    groups = args.only.split(",")
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    data = m.make_data()
    E = args.epochs
    contenders: dict[str, tuple] = {}
    for model in ("cnn", "gru"):
        if model in groups:
            contenders[f"{model}_nngrid"] = (lambda d, e, s, mo=model: nngrid_run(mo, d, e, s), 1)
            contenders[f"{model}_torch"] = (lambda d, e, s, mo=model: torch_run(mo, d, e, s), 1)
    if "cnn" in groups:
        contenders["cnn_floor"] = (cnn_floor, 1)
    if "replicas" in groups:
        contenders["cnn_floor_stack10"] = (lambda d, e, s: cnn_floor(d, e, s, R=10), 10)
        for model in ("cnn", "gru"):
            contenders[f"{model}_stack10"] = (
                lambda d, e, s, mo=model: nngrid_run(mo, d, e, s, seeds=list(range(10))),
                10,
            )

            def seq10(d, e, s, mo=model):
                return float(np.mean([nngrid_run(mo, d, e, r) for r in range(10)]))

            contenders[f"{model}_seq10"] = (seq10, 10)
    if "mlp" in groups:
        mlp_data = workload.make_data()
        pre = _old_train_module().train_replicas
        contenders["mlp"] = (lambda d, e, s: mlp_run(train_replicas, mlp_data, e, s), 1)
        contenders["mlp_pre"] = (lambda d, e, s: mlp_run(pre, mlp_data, e, s), 1)

    load0 = os.getloadavg()
    results: dict[str, list[dict]] = {k: [] for k in contenders}
    with threadpool_limits(limits=1):
        for fn, _ in contenders.values():  # untimed warm-up
            fn(data, 1, 0)
        for r in range(args.rounds):
            for name, (fn, _) in contenders.items():
                res = timed(lambda fn=fn, r=r: fn(data, E, r), E)
                results[name].append(res)
                print(
                    f"round {r} {name:12s} {1e3 * res['cpu_epoch_s']:9.1f} ms/epoch CPU "
                    f"{1e3 * res['epoch_s']:9.1f} wall  acc {res['test_accuracy']:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    cpu = {k: statistics.median(x["cpu_epoch_s"] for x in v) for k, v in results.items()}
    wall = {k: statistics.median(x["epoch_s"] for x in v) for k, v in results.items()}
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; numpy "
        f"{np.__version__}, torch {torch.__version__}; load {load0} -> {os.getloadavg()}"
    )
    print(f"{E} epochs x {args.rounds} rounds; median per-epoch time (CPU / wall):")
    for k in contenders:
        print(f"  {k:12s} {1e3 * cpu[k]:9.1f} ms CPU {1e3 * wall[k]:9.1f} ms wall")
    ratios = {}
    for model in ("cnn", "gru"):
        if f"{model}_torch" in cpu:
            ratios[f"{model}: nngrid / torch"] = cpu[f"{model}_nngrid"] / cpu[f"{model}_torch"]
        if f"{model}_seq10" in cpu:
            ratios[f"{model}: stack of 10 speed-up over 10 in a row"] = (
                cpu[f"{model}_seq10"] / cpu[f"{model}_stack10"]
            )
    if "cnn_floor" in cpu:
        ratios["cnn: nngrid / its GEMM floor"] = cpu["cnn_nngrid"] / cpu["cnn_floor"]
    if "cnn_floor_stack10" in cpu:  # a stack doing nothing but its GEMMs: the ceiling
        ratios["cnn: 10 in a row / the stack's GEMMs alone"] = (
            cpu["cnn_seq10"] / cpu["cnn_floor_stack10"]
        )
    if "mlp" in cpu:
        ratios["mlp: today / pre-layers core"] = cpu["mlp"] / cpu["mlp_pre"]
    print("ratios (CPU time):")
    for k, v in ratios.items():
        print(f"  {k:45s} {v:6.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"cpu": cpu, "wall": wall, "ratios": ratios, "results": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
